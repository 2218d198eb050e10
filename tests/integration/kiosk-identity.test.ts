// The kiosk's device panel in Debian's Chromium against the agent's device bundle: it shows the device id and that
// the device is not enrolled, with the enrolment request to copy; that request, handed to the real `bootos device
// enroll`, enrols the device, and the panel says so with the profile and groups once the agent has read the devices
// document again (it polls with the channel). Screenshot: tests/artifacts/kiosk/kiosk-identity.png.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchChromium, screenshotPath, type Browser } from '../support/browser.js';
import { serveRegistry, startAgent, type AgentProcess, type SlowRegistry } from '../support/agent-process.js';
import { makeRegistry, testDir, type TestRegistry } from '../support/registry.js';
import { runCli } from '../support/cli.js';

const WAIT_MS = 60_000 * Number(process.env.BOOTOS_TIMEOUT_FACTOR ?? 1);

let browser: Browser;
let registry: TestRegistry;
let server: SlowRegistry;
let agent: AgentProcess;

test.before(async () => {
  registry = await makeRegistry({ images: ['hello'] });
  server = await serveRegistry(registry.dir);
  agent = await startAgent({ registry: server.url, rootBytes: registry.rootBytes, limits: { channelPollIntervalMs: 300, channelPollJitterMs: 0 } });
  browser = await launchChromium();
});

test.after.always(async (t) => {
  await browser?.close();
  const leftovers = (await agent?.stop()) ?? [];
  await server?.close();
  await registry?.cleanup();
  t.deepEqual(leftovers, []);
});

test.serial('the device panel shows the id, not enrolled with the request; enrolled after `bootos device enroll`', async (t) => {
  const page = await browser.context.newPage();
  t.teardown(() => page.close());
  page.setDefaultTimeout(WAIT_MS);
  const device = await (await fetch(new URL('/api/device', agent.url))).json();
  const id: string = device.identity.id;
  await page.goto(agent.url);
  const panel = page.locator('#device');
  await panel.locator('dt').filter({ hasText: 'Device id' }).waitFor();
  t.is(await panel.locator('.device-id').innerText(), id);
  t.regex(await panel.innerText(), /Not enrolled: the registry lists no devices yet\./);
  await panel.getByText('Enrolment request').click();
  const request = await panel.locator('textarea.enrolment-request').inputValue();
  t.deepEqual(JSON.parse(request), device.identity.request);
  await page.screenshot({ path: await screenshotPath('kiosk-identity-not-enrolled.png') });

  // What the person copied from the screen is what the administrator enrols.
  const dir = await testDir(t);
  await writeFile(join(dir, 'request.json'), request);
  await writeFile(join(dir, 'devices.key'), `${registry.key.secretKey.toString('base64')}\n`, { mode: 0o600 });
  const enrolled = await runCli(['device', 'enroll', join(dir, 'request.json'), '--registry', registry.dir, '--sign', join(dir, 'devices.key'), '--profile', 'office', '--group', 'lab']);
  t.is(enrolled.code, 0, enrolled.stderr);
  for (const deadline = Date.now() + WAIT_MS; ; ) {
    await page.reload();
    await panel.locator('dt').filter({ hasText: 'Enrolled' }).waitFor();
    if (/Yes · profile office · groups lab/.test(await panel.innerText())) break;
    if (Date.now() > deadline) t.fail(`the panel still says: ${await panel.innerText()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  t.false(await panel.locator('textarea.enrolment-request').isVisible());
  await page.screenshot({ path: await screenshotPath('kiosk-identity-enrolled.png') });
});
