// Proves, with a real agent (real registry server, runc for the apps) whose agent.json says it booted from slot a of
// a disk whose ESP is a directory: GET /api/os reports the running OS, the release the channel offers, the download
// and the pending restart once the release is in slot b; POST /api/os/restart from a visitor is FORBIDDEN; the kiosk
// (in Debian's Chromium) shows the release as ready and its "Restart now" stops the apps and hands the restart to
// `bootos agent`; the next boot (from slot b, after systemd-boot's
// count) blesses the entry once the channel verified and the profile's apps listen. A device without a slot says it
// skips OS updates.
import test from 'ava';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from '../../bootos/src/agent/agent.js';
import { configFromJson } from '../../bootos/src/agent/config.js';
import { Esp } from '../../bootos/src/agent/os/esp.js';
import { publishOs } from '../../fetcher/src/publish/os-publish.js';
import { agentEnv, json } from '../support/agent.js';
import { fakeBuild, makeEspDir } from '../support/os-release.js';
import { launchChromium, screenshotPath } from '../support/browser.js';
import { REPO } from '../support/registry.js';

test('GET /api/os, POST /api/os/restart, and the blessing at the next boot', async (t) => {
  let next!: Awaited<ReturnType<typeof fakeBuild>>;
  const env = await agentEnv({
    images: ['probe'],
    setup: async (registry) => {
      next = await fakeBuild(join(registry.dir, '..', 'out2'));
      await publishOs({ buildDirs: [next.dir], registry: registry.dir, version: '2' });
      await registry.sign();
    },
    beforeStart: async (base) => {
      await makeEspDir(join(base, 'esp'), await fakeBuild(join(base, 'out1')), '1');
    },
    config: { bootSlot: 'a', espDir: 'esp' },
    kioskDir: join(REPO, 'dist', 'kiosk'),
  });
  let second: Agent | null = null;
  let cleaned = false;
  t.teardown(async () => {
    await second?.stop();
    if (!cleaned) await env.teardown();
  });
  await env.agent.osSettled();
  const os = await json(await env.api('/api/os'));
  t.like(os, { bootedFrom: 'disk', slot: 'a', version: '1', skipped: null, available: { version: '2' }, pendingRestart: { version: '2', slot: 'b' }, error: null, download: null });
  const esp = new Esp(join(env.base, 'esp'));
  t.deepEqual((await esp.entries()).map((e) => e.name.file), ['bootos-a.conf', 'bootos-b+3.conf']);

  // A browser that is not paired may not restart the device.
  const visitor = await env.api('/api/os/restart', { method: 'POST', headers: { origin: 'http://evil.example' } });
  t.is(visitor.status, 403);
  t.is((await json(visitor)).error.code, 'FORBIDDEN');
  t.is((await env.api('/api/os/restart')).status, 405);

  // The person at the device: the kiosk says the update is ready; "Restart now" stops the apps and hands over the reboot.
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`http://127.0.0.1:${env.agent.api.port}/`);
    const banner = page.locator('#os-banner');
    await banner.getByText('System update 2 is ready.').waitFor();
    await page.locator('#device').getByText('version 1 · slot a').waitFor();
    await page.screenshot({ path: await screenshotPath('kiosk-os-update-ready.png') });
    await banner.getByRole('button', { name: 'Restart now' }).click();
    await banner.getByText('Stopping the apps and restarting…').waitFor();
  } finally {
    await browser.close();
  }
  t.deepEqual(await env.agent.restartRequested, { version: '2', slot: 'b' });

  // systemd-boot boots slot b and counts a try; the agent of that boot blesses it.
  await rename(join(esp.entriesDir, 'bootos-b+3.conf'), join(esp.entriesDir, 'bootos-b+2-1.conf'));
  const config = configFromJson(
    { registry: env.registryUrl, root: 'root.json', dataRoot: 'var', runDir: 'run', kioskDir: 'kiosk', apiPort: 0, bootSlot: 'b', espDir: 'esp', limits: { stopGraceMs: 2000 } },
    'test config',
    env.base,
  );
  second = await Agent.start(config, () => {});
  await second.settled();
  await second.osSettled();
  const after = await json(await fetch(`http://127.0.0.1:${second.api.port}/api/os`));
  t.like(after, { slot: 'b', version: '2', onTrial: false, available: null, pendingRestart: null, fallback: null });
  t.deepEqual((await esp.entries()).map((e) => e.name.file), ['bootos-a.conf', 'bootos-b.conf']);
  const none = await fetch(`http://127.0.0.1:${second.api.port}/api/os/restart`, { method: 'POST' });
  t.is(none.status, 409);
  t.is((await json(none)).error.code, 'OS_UPDATE_UNAVAILABLE');
  await second.stop();
  cleaned = true;
  t.deepEqual((await env.teardown()).leftovers, []);
});

test('GET /api/os on a device without bootos.slot= says OS updates are skipped', async (t) => {
  const env = await agentEnv({ images: ['probe'] });
  t.teardown(async () => void (await env.teardown()));
  const os = await json(await env.api('/api/os'));
  t.like(os, { bootedFrom: 'other', slot: null, version: null, pendingRestart: null });
  t.regex(os.skipped, /not booted from a disk slot/);
});
