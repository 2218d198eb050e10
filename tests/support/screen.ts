// What a guest's screen shows, read from QMP screendump: the whole frame as RGB, and tests on it that do not depend
// on fonts, layout or timing. Each page is known by colours it is made of, with a tolerance per channel: the kiosk by
// its page background (style.css --bg, #f3f5f8) covering much of the screen; hello's page by its white background
// and its heading's blue (#0b6bcb), a colour the kiosk never uses.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Guest } from '../../qemu/src/guest.js';
import { scaledTimeout } from '../../qemu/src/qemu.js';
import { screenshotPath } from './browser.js';
import { tempDir } from './registry.js';

export interface Frame {
  width: number;
  height: number;
  rgb: Buffer;
}

/** Width, height and RGB bytes of a binary PPM (P6, maxval 255), as QMP screendump writes by default. */
export function readPpm(bytes: Buffer): Frame {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(bytes.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('not a P6 PPM with maxval 255');
  const frame = { width: Number(header[1]), height: Number(header[2]), rgb: bytes.subarray(header[0].length) };
  if (frame.rgb.length < frame.width * frame.height * 3) throw new Error('a PPM cut short');
  return frame;
}

type Rgb = readonly [number, number, number];
const KIOSK_BG: Rgb = [0xf3, 0xf5, 0xf8];
const WHITE: Rgb = [0xff, 0xff, 0xff];
const HELLO_BLUE: Rgb = [0x0b, 0x6b, 0xcb];
const TOLERANCE = 10;

/** How many pixels (every `step`th of each row and column) are within TOLERANCE of `colour`, and of how many. */
export function count(frame: Frame, colour: Rgb, step = 2): { hits: number; of: number } {
  let hits = 0;
  let of = 0;
  for (let y = 0; y < frame.height; y += step) {
    for (let x = 0; x < frame.width; x += step) {
      const i = (y * frame.width + x) * 3;
      of++;
      if (Math.abs(frame.rgb[i]! - colour[0]) <= TOLERANCE && Math.abs(frame.rgb[i + 1]! - colour[1]) <= TOLERANCE && Math.abs(frame.rgb[i + 2]! - colour[2]) <= TOLERANCE) hits++;
    }
  }
  return { hits, of };
}

export type Page = 'kiosk' | 'hello' | 'other';

/** Which page the screen shows, and the figures it was told by (for the test's log). */
export function pageOn(frame: Frame): { page: Page; why: string } {
  const bg = count(frame, KIOSK_BG);
  const white = count(frame, WHITE);
  const blue = count(frame, HELLO_BLUE);
  const pct = (c: { hits: number; of: number }) => ((100 * c.hits) / c.of).toFixed(1);
  const why = `kiosk background ${pct(bg)} %, white ${pct(white)} %, hello's blue ${blue.hits} pixels`;
  if (blue.hits >= 30 && white.hits / white.of >= 0.6) return { page: 'hello', why };
  if (bg.hits / bg.of >= 0.3 && blue.hits < 30) return { page: 'kiosk', why };
  return { page: 'other', why };
}

/**
 * Takes screendumps until the screen shows `page` (or the timeout, scaled, passes); the last one is kept as
 * tests/artifacts/kiosk/<name>.png. Resolves with what the last screendump showed.
 */
export async function waitForPage(guest: Guest, page: Page, name: string, timeoutMs: number, log: (line: string) => void): Promise<{ page: Page; why: string }> {
  const dir = await tempDir('bootos-screen-');
  const deadline = Date.now() + scaledTimeout(timeoutMs);
  let seen: { page: Page; why: string } = { page: 'other', why: 'no screendump yet' };
  for (;;) {
    const file = join(dir, 'screen.ppm');
    await guest.vm.screendump(file);
    try {
      seen = pageOn(readPpm(await readFile(file)));
    } catch (err) {
      // QEMU may answer before the file is complete: look again.
      seen = { page: 'other', why: (err as Error).message };
    }
    if (seen.page === page || Date.now() > deadline || !guest.vm.running) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const png = await screenshotPath(`${name}.png`);
  await guest.vm.screendump(png, 'png').catch((err) => log(`no PNG: ${(err as Error).message}`));
  log(`screen (${name}): ${seen.page}: ${seen.why}; ${png}`);
  return seen;
}
