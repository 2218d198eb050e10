// Pairing in the real kiosk, in Debian's Chromium, against the real agent: a browser elsewhere (it reaches the device
// at a LAN address, 192.0.2.99 added to this machine for the test) gets the read-only view and a "pair this browser"
// banner; Open says to pair first; a wrong code is refused in plain words; the link with ?pair=CODE (what
// `bootos demo` prints) pairs it, drops the code from the address bar, and Open then starts hello and shows it;
// the device's own screen shows the code and the paired browser, and ends the pairing.
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { launchChromium, screenshotPath, type Browser } from '../support/browser.js';
import { agentEnv, type AgentEnv } from '../support/agent.js';
import { KIOSK_DIR } from '../support/agent-process.js';
import { IMAGES } from '../support/registry.js';

const run = promisify(execFile);
const LAN = '192.0.2.99';
const WAIT_MS = 60_000 * Number(process.env.BOOTOS_TIMEOUT_FACTOR ?? 1);

let env: AgentEnv;
let browser: Browser;

test.before(async () => {
  await run('ip', ['addr', 'add', `${LAN}/32`, 'dev', 'lo']).catch((err: Error) => {
    if (!/File exists/.test(err.message)) throw err;
  });
  env = await agentEnv({ images: [join(IMAGES, 'hello')], host: '0.0.0.0', kioskDir: KIOSK_DIR });
  browser = await launchChromium();
});

test.after.always(async () => {
  await browser?.close();
  await env?.teardown();
  await run('ip', ['addr', 'del', `${LAN}/32`, 'dev', 'lo']).catch(() => {});
});

const card = (page: Page, app: string) => page.locator(`li[data-app="${app}"]`);

async function page(url: string): Promise<Page> {
  const p = await browser.context.newPage();
  p.setDefaultTimeout(WAIT_MS);
  await p.goto(url);
  await card(p, 'hello').waitFor();
  return p;
}

test.serial('an unpaired browser looks but cannot change; the printed link pairs it; the device ends the pairing', async (t) => {
  const api = env.agent.api.port;
  const visitor = await page(`http://${LAN}:${api}/`);
  const banner = visitor.locator('#pairing-banner');
  await banner.waitFor({ state: 'visible' });
  t.regex(await banner.innerText(), /can look but not change anything.*pair it: enter the code shown on the device's screen/s);
  await card(visitor, 'hello').getByRole('link', { name: 'Open', exact: true }).click();
  await card(visitor, 'hello').getByText(/Pair this browser to open apps that are not running/).waitFor();
  // (A visitor may still use an app: a connection to its port starts it, as for any LAN client. What it may not
  // do is change state through the API: stop, freeze, or start without using it.)

  await visitor.locator('#pairing-code').fill('0000 0000');
  await visitor.getByRole('button', { name: 'Pair this browser' }).click();
  await visitor.getByText("That is not the code this device shows. Enter the code on the device's screen.").waitFor();

  // The device's own screen shows the code.
  const device = await page(`http://127.0.0.1:${api}/`);
  const code = (await device.locator('#pairing-shown-code').innerText()).trim();
  t.regex(code, /^\d{4} \d{4}$/);
  await device.screenshot({ path: await screenshotPath('kiosk-device-pairing-code.png') });

  await visitor.goto(`http://${LAN}:${api}/?pair=${code.replace(' ', '')}`);
  await visitor.locator('#pairing').getByText(/This browser is paired with the device until/).waitFor();
  t.false(visitor.url().includes('pair='), 'the used code is gone from the address bar');
  t.true(await banner.isHidden());
  await card(visitor, 'hello').getByRole('link', { name: 'Open', exact: true }).click();
  // The kiosk shows the app's page (on the host the browser reached it by) in its app view.
  await visitor.locator('#app-view').waitFor({ state: 'visible' });
  await visitor.frameLocator('#app-frame').getByText('Hello from bootos').waitFor();
  t.is(new URL((await visitor.locator('#app-frame').getAttribute('src'))!).hostname, LAN);
  await visitor.getByRole('link', { name: '← Kiosk' }).click();

  await device.reload();
  await device.getByText('1 browser is paired.').waitFor();
  await device.getByRole('button', { name: 'End all pairings' }).click();
  await device.getByText('0 browsers are paired.').waitFor();
  await visitor.goto(`http://${LAN}:${api}/`);
  await banner.waitFor({ state: 'visible' });
  t.pass();
});
