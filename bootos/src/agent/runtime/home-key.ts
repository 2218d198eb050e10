// The screen's home key: the Windows (Super) key, either one, or a keyboard's Home page key brings the person at the
// device back to the kiosk from any app, wherever the focus is. The kiosk cannot see that key itself while an app's
// page (another origin, in its frame) has the focus, and the compositor (cage) has no key bindings, so the agent
// reads the keyboards' evdev nodes beside the display app (evdev gives every reader every event; nothing is grabbed)
// and tells the screen's kiosk through its event stream (api.ts, `screen` events go to the display app alone).
//
// The nodes are opened non-blocking and read on a short timer: a blocking read of a device that has no event would
// hold one of libuv's four pool threads for as long as nobody types.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { errnoCode } from '../../../../fetcher/src/core/error.js';
import type { DeviceNode } from './screen-devices.js';

const EV_KEY = 1;
/** KEY_LEFTMETA, KEY_RIGHTMETA, KEY_HOMEPAGE (linux/input-event-codes.h). */
export const HOME_KEYS = new Set([125, 126, 172]);
/** struct input_event on a 64-bit kernel: a timeval (16 bytes), type and code (u16), value (s32). */
const EVENT_BYTES = 24;
const POLL_MS = 50;

/** Home presses in a buffer of whole input events (value 1 is a press; 0 a release, 2 a repeat). */
export function homePresses(buf: Buffer, length: number): number {
  let n = 0;
  for (let at = 0; at + EVENT_BYTES <= length; at += EVENT_BYTES) {
    const type = buf.readUInt16LE(at + 16);
    const code = buf.readUInt16LE(at + 18);
    const value = buf.readInt32LE(at + 20);
    if (type === EV_KEY && value === 1 && HOME_KEYS.has(code)) n++;
  }
  return n;
}

export class HomeKey {
  private handles: FileHandle[] = [];
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private readonly buf = Buffer.alloc(EVENT_BYTES * 64);

  constructor(private readonly pressed: () => void, private readonly log: (line: string) => void) {}

  /** Watches the evdev nodes among `devices` (the display app's, as it starts); the ones watched before are let go. */
  async watch(devices: readonly DeviceNode[]): Promise<void> {
    await this.close();
    for (const d of devices) {
      if (!d.path.startsWith('/dev/input/event')) continue;
      try {
        this.handles.push(await open(d.path, constants.O_RDONLY | constants.O_NONBLOCK));
      } catch (err) {
        this.log(`home key: ${d.path}: ${(err as Error).message}`);
      }
    }
    if (!this.handles.length) return;
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      for (const handle of [...this.handles]) {
        for (;;) {
          let bytesRead: number;
          try {
            ({ bytesRead } = await handle.read(this.buf, 0, this.buf.length, null));
          } catch (err) {
            if (errnoCode(err) === 'EAGAIN') break;
            // Unplugged (ENODEV) or closed meanwhile: stop reading it.
            this.handles = this.handles.filter((h) => h !== handle);
            await handle.close().catch(() => {});
            break;
          }
          if (bytesRead === 0) break;
          for (let i = homePresses(this.buf, bytesRead); i > 0; i--) this.pressed();
        }
      }
    } finally {
      this.reading = false;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const handles = this.handles;
    this.handles = [];
    await Promise.all(handles.map((h) => h.close().catch(() => {})));
  }
}
