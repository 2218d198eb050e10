// Debian's Chromium driven by playwright-core: headless, no sandbox (we run as root), nothing fetched from the
// network by the browser itself, and a fresh profile per launch.
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { REPO, tempDir } from './registry.js';

export const CHROMIUM = process.env.BOOTOS_CHROMIUM ?? '/usr/bin/chromium';

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(options: { width?: number; height?: number } = {}): Promise<Browser> {
  const profile = await tempDir('bootos-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: options.width ?? 1024, height: options.height ?? 768 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Where the tests save their screenshots: tests/artifacts/kiosk/ (ignored by git), or BOOTOS_SCREENSHOTS_DIR.
 * The committed ones in docs/img/ are refreshed with `BOOTOS_SCREENSHOTS_DIR=docs/img npx ava tests/integration/kiosk-browser.test.ts`.
 */
export async function screenshotPath(name: string): Promise<string> {
  const dir = resolve(REPO, process.env.BOOTOS_SCREENSHOTS_DIR ?? join('tests', 'artifacts', 'kiosk'));
  await mkdir(dir, { recursive: true });
  return join(dir, name);
}
