// End to end, the device's own screen: a guest with a virtual GPU and a profile whose display app is images/display
// (cage + cog). The agent sees /dev/dri/card0 and starts the display app at boot without being asked; it counts as
// running once its kiosk is up (its page's event stream is open to the agent). Then, on the same boot, what a person
// at the device does with the keyboard alone: the screen shows the kiosk; Enter opens hello (the kiosk gives the
// first app's Open the focus), and the screen shows hello's page; the Windows key (the screen's home key, which the
// agent reads from the keyboards) brings the kiosk back. Last, a display update whose compositor cannot start
// (1.0.1) is published: the agent stops 1.0.0 (one compositor holds the screen at a time), 1.0.1 fails its health
// check (its kiosk never connects), 1.0.0 comes back, and the screen shows the kiosk again.
// Pages are told apart by their colours (tests/support/screen.ts), never by timing. Slow under TCG: the display image
// is ~130 MiB of layer, unpacked and run in the guest; timeouts scale with BOOTOS_TIMEOUT_FACTOR.
import test, { type ExecutionContext } from 'ava';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Arch } from '../../fetcher/src/core/arch.js';
import { E2eRegistry, e2eImage, HELLO_PORT, passed, waitForApps, type AppsView } from '../support/e2e.js';
import { Guest } from '../../qemu/src/guest.js';
import { scaledTimeout } from '../../qemu/src/qemu.js';
import { REPO, tempDir } from '../support/registry.js';
import { waitForPage } from '../support/screen.js';

const display = (v: AppsView) => v.apps.find((a) => a.name === 'display');

/** images/display as 1.0.1 whose compositor refuses to start: what a bad display update looks like on a device. */
async function brokenDisplay(): Promise<string> {
  const dir = await tempDir('bootos-e2e-display-');
  await cp(join(REPO, 'images', 'display'), dir, { recursive: true });
  const yaml = await readFile(join(dir, 'image.yaml'), 'utf8');
  await writeFile(join(dir, 'image.yaml'), yaml.replace(/^version: .*$/m, 'version: 1.0.1').replace(/^entrypoint: .*$/m, 'entrypoint: [/usr/bin/cage, --no-such-option]'));
  return dir;
}

async function screenFlow(t: ExecutionContext, arch: Arch, screen: 'virtio' | 'std', options: { keys: boolean; update: boolean }): Promise<void> {
  t.timeout(scaledTimeout(40 * 60_000));
  const started = Date.now();
  const log = (l: string) => t.log(l);
  const image = await e2eImage(arch, log);
  const registry = await E2eRegistry.create(['hello', 'display']);
  t.teardown(() => registry.close());
  const profiles = { office: [{ image: 'hello', idle: { afterSeconds: 300, action: 'stop' as const } }, { image: 'display', display: true }] };
  await registry.sign(profiles);
  await registry.start();
  const guest = await Guest.boot({ arch, mode: 'direct', imageDir: image.dir, registry: registry.url, screen, memoryMiB: 2048, forward: [{ guestPort: HELLO_PORT }] }, log);
  t.teardown(() => guest.close());
  await guest.ready();
  await guest.vm.expect(/a screen is there: starting the display app/, scaledTimeout(120_000));
  const name = `e2e-screen-${arch}-${screen}`;
  const view = await waitForApps(guest, 'the display app running', (v) => display(v)?.state === 'running', 25 * 60_000);
  t.log(`display running after ${((Date.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(display(view))}`);
  t.is((await waitForPage(guest, 'kiosk', `${name}-kiosk`, 5 * 60_000, log)).page, 'kiosk', 'the screen shows the kiosk');

  if (options.keys) {
    // The kiosk gave hello's Open the focus: Enter opens it (hello is downloaded and started first). The first key
    // after the compositor started is lost on its way to cog (docs/decisions.md): Escape (which does nothing on the
    // kiosk) goes first. Not a modifier: a lost release would hold it down, and Shift+Enter opens the app bare.
    await guest.vm.sendKey(['esc']);
    await new Promise((r) => setTimeout(r, 2000));
    await guest.vm.sendKey(['ret']);
    t.is((await waitForPage(guest, 'hello', `${name}-hello`, 10 * 60_000, log)).page, 'hello', "Enter on Open shows hello's page");
    t.is((await guest.api<AppsView>('/api/apps')).apps.find((a) => a.name === 'hello')?.state, 'running');
    await guest.vm.sendKey(['meta_l']);
    t.is((await waitForPage(guest, 'kiosk', `${name}-home`, 2 * 60_000, log)).page, 'kiosk', 'the home key brings the kiosk back');
  }

  if (options.update) {
    const broken = await brokenDisplay();
    t.teardown(() => rm(broken, { recursive: true, force: true }));
    await registry.publish(broken);
    await registry.sign(profiles);
    const after = await waitForApps(guest, 'the display update failed and rolled back', (v) => display(v)?.update?.state === 'failed' && display(v)?.state === 'running', 15 * 60_000);
    t.log(`after the bad update: ${JSON.stringify(display(after))}`);
    t.is(display(after)?.version, '1.0.0', 'the screen runs the version it had');
    t.is((await waitForPage(guest, 'kiosk', `${name}-rollback`, 5 * 60_000, log)).page, 'kiosk', 'the screen shows the kiosk after the rollback');
  }
  t.is(await guest.powerdown(scaledTimeout(60_000)), 0);
  passed(`e2e ${arch} screen (${screen})`, (Date.now() - started) / 1000);
}

test.serial('x86_64 with virtio-gpu: the kiosk at boot, and a bad display update rolls back', (t) =>
  screenFlow(t, 'x86_64', 'virtio', { keys: false, update: true }),
);
// Keys open hello and the home key comes back: passed here once whole, but in two of three runs WebKit's renderer
// crashed when the kiosk's frame loaded hello ("The renderer process crashed"), cause not found yet (docs/decisions.md,
// "The display image"). Run it with BOOTOS_E2E_SCREEN_KEYS=1 until that is fixed.
(process.env.BOOTOS_E2E_SCREEN_KEYS ? test.serial : test.serial.skip)('x86_64 with virtio-gpu: keys open hello and the home key comes back', (t) =>
  screenFlow(t, 'x86_64', 'virtio', { keys: true, update: false }),
);
// QEMU's std VGA (bochs) is not here yet: cage cannot drive it, and cog alone on its DRM platform draws the kiosk's
// first frame and then crashes in wpebackend-fdo ("Buffer address requested when its parent pool has an external
// reference and a deferred resize pending", status 139) at every start: docs/decisions.md, "The display image".
