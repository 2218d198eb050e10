// End to end on x86_64, kernel + initramfs booted directly by QEMU (TCG here): the whole chain (boot, verify, pull on
// the first request, idle stop, update, python-web on Debian packages, poweroff), and the two ways it can go wrong at boot: a channel signed by a
// key the device does not trust, and a registry that is not there yet. One image (cached by input hash) for all.
import test from 'ava';
import { E2eRegistry, e2eImage, fullFlow, getOnce, HELLO_PORT, passed, waitForApps } from '../support/e2e.js';
import { Guest } from '../../qemu/src/guest.js';

test.before(async (t) => {
  t.timeout(15 * 60_000);
  const image = await e2eImage('x86_64', (l) => t.log(l));
  t.log(`image ${image.key}${image.cached ? ' (cached)' : ' (built)'}`);
});

test.serial('x86_64 direct boot: verify, first request starts hello, idle stop, update, python-web answers, poweroff', async (t) => {
  t.timeout(8 * 60_000);
  await fullFlow(t, { arch: 'x86_64', mode: 'direct', python: true });
});

test.serial('a channel signed by an unknown key: the device refuses it, /api/apps and the kiosk say why', async (t) => {
  t.timeout(6 * 60_000);
  const started = Date.now();
  const image = await e2eImage('x86_64');
  const registry = await E2eRegistry.create(['hello']);
  t.teardown(() => registry.close());
  await registry.sign();
  await registry.signWithUnknownKey();
  await registry.start();
  const guest = await Guest.boot({ arch: 'x86_64', mode: 'direct', imageDir: image.dir, registry: registry.url, forward: [{ guestPort: HELLO_PORT }] }, (l) => t.log(l));
  t.teardown(() => guest.close());
  await guest.ready();
  const refused = await waitForApps(guest, 'the channel refused', (v) => v.channel.error !== null, 60_000);
  t.is(refused.channel.state, 'error');
  t.true(['UNKNOWN_KEY', 'SIGNATURE_INVALID'].includes(refused.channel.error!.code), refused.channel.error!.code);
  t.is(refused.channel.version, null, 'nothing of the refused channel is taken');
  t.deepEqual(refused.apps, [], 'no app of a refused channel');
  await guest.vm.expect(/channel stable: UNKNOWN_KEY/, 10_000);
  // Nothing listens on hello's port: the request is refused rather than answered by anything unverified.
  await t.throwsAsync(getOnce(guest.url(HELLO_PORT, '/'), 15_000));
  // The kiosk (served by the agent, read through hostfwd) puts it in words, in Chromium.
  const { launchChromium, screenshotPath } = await import('../support/browser.js');
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(guest.apiUrl);
  const problem = page.locator('#channel-problem');
  await problem.filter({ hasText: /signature is not trusted/ }).waitFor();
  t.regex(await problem.innerText(), /^The channel's signature is not trusted, so nothing new is installed\./);
  await page.screenshot({ path: await screenshotPath('e2e-untrusted.png') });
  t.is(await guest.powerdown(), 0);
  passed('e2e x86_64 unknown key refused', (Date.now() - started) / 1000);
});

test.serial('the registry unreachable at boot: the agent reports NETWORK, keeps retrying, and recovers when it comes up', async (t) => {
  t.timeout(6 * 60_000);
  const started = Date.now();
  const image = await e2eImage('x86_64');
  const registry = await E2eRegistry.create(['hello']);
  t.teardown(() => registry.close());
  await registry.sign(); // signed, but not served yet: its port is chosen, nothing listens there
  const guest = await Guest.boot({ arch: 'x86_64', mode: 'direct', imageDir: image.dir, registry: registry.url, forward: [{ guestPort: HELLO_PORT }] }, (l) => t.log(l));
  t.teardown(() => guest.close());
  await guest.ready();
  const down = await waitForApps(guest, 'the registry reported unreachable', (v) => v.channel.error !== null, 60_000);
  t.is(down.channel.state, 'retrying');
  t.is(down.channel.error!.code, 'NETWORK');
  // It keeps retrying: two more failed attempts on the console.
  const from = await guest.vm.mark();
  await guest.vm.expect(/channel stable: NETWORK[^\n]*retrying in \d+ ms[\s\S]*channel stable: NETWORK/, 60_000, from);
  await registry.start();
  const up = await waitForApps(guest, 'the channel verified once the registry is up', (v) => v.channel.state === 'ok', 120_000);
  t.is(up.channel.version, 1);
  t.is(up.channel.error, null);
  const answer = await getOnce(guest.url(HELLO_PORT, '/'), 120_000);
  t.is(answer.status, 200);
  t.is(answer.headers['x-app-version'], '1.0.0');
  t.is(await guest.powerdown(), 0);
  passed('e2e x86_64 registry unreachable, then recovered', (Date.now() - started) / 1000);
});
