// The kiosk in Debian's Chromium against the real agent (its esbuild bundle, serving dist/kiosk/) with the real runc:
// the person at the device opens calc with the keyboard, sees it download to a full bar, uses it in the kiosk's app
// view and comes back with "← Kiosk"; finds the Activity again after a reload; freezes and resumes it; reads a refusal
// that names the button pressed; keeps a note in notes across a stop and a start; and reads failures of the channel
// in plain words. Screenshots are saved
// (tests/artifacts/kiosk/, or docs/img/ with BOOTOS_SCREENSHOTS_DIR=docs/img).
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, screenshotPath, type Browser } from '../support/browser.js';
import { serveRegistry, startAgent, type AgentProcess, type SlowRegistry } from '../support/agent-process.js';
import { makeRegistry, type TestRegistry } from '../support/registry.js';

const WAIT_MS = 60_000 * Number(process.env.BOOTOS_TIMEOUT_FACTOR ?? 1);

let browser: Browser;
let registry: TestRegistry;
let server: SlowRegistry;
let agent: AgentProcess;

test.before(async () => {
  registry = await makeRegistry({ images: ['hello', 'calc', 'notes'] });
  server = await serveRegistry(registry.dir);
  // The layers of calc and notes trickle in over a few seconds, so that the download can be seen.
  for (const name of ['calc', 'notes']) {
    for (const layer of registry.images.get(name)!.layers) server.slow.set(layer.digest, { durationMs: 3000, chunks: 30 });
  }
  agent = await startAgent({ registry: server.url, rootBytes: registry.rootBytes });
  browser = await launchChromium();
});

test.after.always(async (t) => {
  await browser?.close();
  const leftovers = (await agent?.stop()) ?? [];
  await server?.close();
  await registry?.cleanup();
  t.deepEqual(leftovers, [], 'the agent left containers behind');
});

const card = (page: Page, app: string) => page.locator(`li[data-app="${app}"]`);
const button = (page: Page, app: string, name: string) => card(page, app).getByRole('button', { name, exact: true });

async function expectState(page: Page, app: string, state: string): Promise<void> {
  await page.waitForFunction(
    ([name, want]) => document.querySelector(`li[data-app="${name}"]`)?.getAttribute('data-state') === want,
    [app, state] as const,
    { timeout: WAIT_MS },
  );
}

async function openKiosk(): Promise<Page> {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(agent.url);
  await card(page, 'notes').waitFor();
  return page;
}

test.serial('the kiosk lists the profile, the channel and the device', async (t) => {
  const page = await openKiosk();
  t.teardown(() => page.close());
  t.is(await page.title(), 'bootos');
  t.deepEqual(await page.locator('li.app').evaluateAll((els) => els.map((e) => e.getAttribute('data-app'))), ['hello', 'calc', 'notes']);
  for (const app of ['hello', 'calc', 'notes']) t.is(await card(page, app).getAttribute('data-state'), 'available');
  t.regex(await card(page, 'calc').locator('.chip').innerText(), /^Available$/);
  t.regex(await page.locator('#channel').innerText(), /stable · version 1[\s\S]*up to date/);
  t.regex(await page.locator('#profile').innerText(), /profile office/);
  await page.getByText(hostname(), { exact: true }).waitFor();
  t.regex(await page.locator('#device').innerText(), /Processor[\s\S]*Memory[\s\S]*Up for/);
  // Nothing is wrong, so nothing says so.
  t.false(await page.locator('#channel-problem').isVisible());
  t.false(await page.locator('#connection').isVisible());
  await page.screenshot({ path: await screenshotPath('kiosk-start.png') });
});

test.serial('open calc with the keyboard: it downloads with visible progress, opens and computes; then freeze and resume', async (t) => {
  const page = await openKiosk();
  t.teardown(() => page.close());
  // Keyboard only: Tab to calc's Open (the skip link comes first), with a visible focus ring.
  const open = card(page, 'calc').getByRole('link', { name: 'Open' });
  let tabs = 0;
  while (!(await open.evaluate((el) => el === document.activeElement))) {
    t.true(++tabs <= 12, 'calc’s Open is reached within 12 Tab presses');
    await page.keyboard.press('Tab');
  }
  t.not(await open.evaluate((el) => getComputedStyle(el).outlineStyle), 'none', 'the focused control shows a focus ring');
  const calcPort = (await agent.api('/api/apps')).apps.find((a: { name: string }) => a.name === 'calc').port as number;
  t.is(await open.getAttribute('href'), `http://127.0.0.1:${calcPort}/`);

  // Every change of calc's bar, as the person sees it: with animations on (the device's browser has them), the bar
  // must be full once the download is done, not caught mid-transition.
  await page.emulateMedia({ reducedMotion: 'no-preference' });
  // (A string: tsx would wrap a named function of the test in a helper the page does not have.)
  await page.evaluate(`{
    const item = document.querySelector('li[data-app="calc"]');
    const progress = item.querySelector('.progress');
    const bar = progress.querySelector('.bar');
    const seen = (window.calcBar = []);
    new MutationObserver(() => {
      const track = progress.getBoundingClientRect().width;
      // hidden: not drawn (its own hidden attribute, or the kiosk behind the app view)
      seen.push({ state: item.getAttribute('data-state'), hidden: progress.hidden || track === 0, value: progress.getAttribute('aria-valuenow'), ratio: track > 0 ? bar.getBoundingClientRect().width / track : 0 });
    }).observe(item, { attributes: true, subtree: true, attributeFilter: ['data-state', 'aria-valuenow', 'style', 'hidden'] });
  }`);

  const t0 = Date.now();
  const mark = (what: string) => t.log(`${what}: ${Date.now() - t0} ms`);
  await page.keyboard.press('Enter');
  // The download shows in the card: state, a progress bar with its value for screen readers, and the announcement.
  await expectState(page, 'calc', 'downloading');
  const bar = card(page, 'calc').getByRole('progressbar', { name: 'Downloading calc' });
  t.true(await bar.isVisible());
  t.regex((await bar.getAttribute('aria-valuetext')) ?? '', /percent|starting the download/);
  t.regex(await card(page, 'calc').locator('.detail').innerText(), /opens when ready/);
  await page.screenshot({ path: await screenshotPath('kiosk-downloading.png') });

  mark('downloading shown');
  // Once running, the kiosk shows the app's page (the same host, the app's port) in its app view, under "← Kiosk".
  const view = page.locator('#app-view');
  await view.waitFor({ state: 'visible', timeout: WAIT_MS });
  t.is(new URL(page.url()).hash, '#app/calc');
  t.is(await page.locator('#app-frame').getAttribute('src'), `http://127.0.0.1:${calcPort}/`);
  const seen = await page.evaluate(() => (window as unknown as { calcBar: { state: string | null; hidden: boolean; value: string | null; ratio: number }[] }).calcBar);
  const values = seen.filter((r) => !r.hidden && r.value !== null).map((r) => Number(r.value));
  t.log(`calc's bar: ${values.join(' → ')} %`);
  const last = seen.filter((r) => !r.hidden).at(-1)!;
  t.is(last.value, '100', 'the last value the bar shows is 100 %');
  t.true(last.ratio > 0.99, `the bar is drawn full, not mid-animation (${(last.ratio * 100).toFixed(0)} %)`);
  t.true(seen.some((r) => !r.hidden && r.value === '100' && r.state !== 'downloading'), 'it stays full after the download, while calc starts');

  const app = page.frameLocator('#app-frame');
  await app.getByLabel('Expression').fill('2+3*4');
  await app.getByLabel('Expression').press('Enter');
  await app.locator('#result').filter({ hasText: '14' }).waitFor();
  t.is(await app.locator('#result').innerText(), '14');
  await app.getByLabel('Expression').fill('2+*');
  await app.getByLabel('Expression').press('Enter');
  await app.locator('#result.error').waitFor();
  t.regex(await app.locator('#result').innerText(), /Cannot compute/);
  await page.screenshot({ path: await screenshotPath('kiosk-calc.png') });

  mark('computed');
  // The way back, for a person at a screen without browser chrome: the bar's "← Kiosk", and the focus is on calc's Open.
  await page.getByRole('link', { name: '← Kiosk' }).click();
  await view.waitFor({ state: 'hidden' });
  t.is(new URL(page.url()).hash, '');
  t.true(await open.evaluate((el) => el === document.activeElement), 'the focus is back on calc’s Open');
  t.is(await page.locator('#app-frame').getAttribute('src'), 'about:blank', 'the app’s page is closed (its connections end)');
  await expectState(page, 'calc', 'running');
  mark('back at the kiosk');

  // The Activity comes from the agent: after a reload it still tells what happened before.
  await page.reload();
  const activity = page.locator('#activity');
  await activity.locator('li').filter({ hasText: /calc\s+downloaded/ }).waitFor();
  t.regex(await activity.innerText(), /calc\s+starting/);
  t.false(await page.locator('#activity-empty').isVisible());
  t.is(await activity.locator('li').filter({ hasText: /calc\s+downloaded/ }).count(), 1, 'a step shows once, not once per source');
  // Freeze needs an idle app: the calc page's keep-alive connections close within the server's 5 s keep-alive.
  await card(page, 'calc').locator('.detail').filter({ hasText: /^Idle/ }).waitFor();
  mark('idle');
  await button(page, 'calc', 'Freeze').click();
  await expectState(page, 'calc', 'frozen');
  mark('frozen');
  t.is(await card(page, 'calc').locator('.chip').innerText(), 'Frozen');
  await page.locator('#announcer').filter({ hasText: 'calc: frozen.' }).waitFor();
  t.is((await agent.api('/api/apps')).apps.find((a: { name: string }) => a.name === 'calc').state, 'frozen');
  // A frozen app resumes from its card and answers again at once.
  await button(page, 'calc', 'Resume').click();
  await expectState(page, 'calc', 'running');
  const answer = await fetch(`http://127.0.0.1:${calcPort}/api/eval?expr=6*7`, { headers: { connection: 'close' } });
  t.is((await answer.json()).value, 42);
  await card(page, 'calc').locator('.detail').filter({ hasText: /^Idle/ }).waitFor();
  await button(page, 'calc', 'Freeze').click();
  await expectState(page, 'calc', 'frozen');
});

test.serial('a refusal names the button pressed: Resume, Stop and Open of a frozen calc', async (t) => {
  const page = await openKiosk();
  t.teardown(() => page.close());
  await expectState(page, 'calc', 'frozen');
  // As a paired browser would be answered (the agent accepts state changes only from the device's own screen).
  await page.route(/\/api\/apps\/calc\/(start|stop|freeze)$/, (route) =>
    route.fulfill({ status: 403, contentType: 'application/json', body: JSON.stringify({ error: { code: 'FORBIDDEN', message: 'start calc: state-changing calls are accepted only from loopback' } }) }),
  );
  const notice = card(page, 'calc').locator('.notice');
  await button(page, 'calc', 'Resume').click();
  await notice.filter({ hasText: "Pair this browser to resume apps: enter the code shown on the device's screen." }).waitFor();
  await button(page, 'calc', 'Stop').click();
  await notice.filter({ hasText: "Pair this browser to stop apps: enter the code shown on the device's screen." }).waitFor();
  t.is((await agent.api('/api/apps')).apps.find((a: { name: string }) => a.name === 'calc').state, 'frozen');
  await card(page, 'calc').getByRole('link', { name: 'Open' }).click();
  await notice.filter({ hasText: "Pair this browser to open apps that are not running: enter the code shown on the device's screen." }).waitFor();
  // (No check of calc's state after Open: Chromium may connect to a link's origin as it is pressed, and a connection
  // to an app's port resumes it, as it should when a person opens an app.)
  t.false(await page.locator('#app-view').isVisible(), 'a refused Open stays on the kiosk');
  // Frozen again for the overview screenshot (calc frozen), if that connection resumed it.
  await page.unrouteAll();
  if ((await agent.api('/api/apps')).apps.find((a: { name: string }) => a.name === 'calc').state !== 'frozen') {
    await card(page, 'calc').locator('.detail').filter({ hasText: /^Idle/ }).waitFor();
    await button(page, 'calc', 'Freeze').click();
    await expectState(page, 'calc', 'frozen');
  }
});

test.serial('notes keeps a note across a stop and a start', async (t) => {
  const page = await openKiosk();
  t.teardown(() => page.close());
  const notesPort = (await agent.api('/api/apps')).apps.find((a: { name: string }) => a.name === 'notes').port as number;
  await card(page, 'notes').getByRole('link', { name: 'Open' }).click();
  await expectState(page, 'notes', 'downloading');
  t.true(await card(page, 'notes').getByRole('progressbar').isVisible());
  await page.locator('#app-view').waitFor({ state: 'visible', timeout: WAIT_MS });
  t.is(await page.locator('#app-frame').getAttribute('src'), `http://127.0.0.1:${notesPort}/`);
  const notes = page.frameLocator('#app-frame');
  await notes.getByLabel('New note').fill('Water the office plants on Friday');
  await notes.getByRole('button', { name: 'Add note' }).click();
  await notes.getByText('Water the office plants on Friday').waitFor();

  await page.getByRole('link', { name: '← Kiosk' }).click();
  await expectState(page, 'notes', 'running');
  // The overview for the README: hello not downloaded yet, calc frozen, notes running.
  await page.locator('#device dt').filter({ hasText: 'Up for' }).waitFor();
  await page.screenshot({ path: await screenshotPath('kiosk-overview.png') });
  await button(page, 'notes', 'Stop').click();
  await expectState(page, 'notes', 'stopped');
  t.is(await card(page, 'notes').locator('.chip').innerText(), 'Stopped');
  t.regex(await card(page, 'notes').locator('.detail').innerText(), /Its data is kept/);
  const stored = JSON.parse(await readFile(join(agent.base, 'var', 'data', 'notes', 'notes.json'), 'utf8'));
  t.deepEqual(stored.notes.map((n: { text: string }) => n.text), ['Water the office plants on Friday']);

  // Start again from the kiosk: the note is still there.
  await card(page, 'notes').getByRole('link', { name: 'Open' }).click();
  await page.locator('#app-view').waitFor({ state: 'visible', timeout: WAIT_MS });
  await notes.getByText('Water the office plants on Friday').waitFor();
  t.is(await notes.locator('#notes li').count(), 1);
  // A reload keeps the app open (the address says which), and Back in the browser closes it too.
  await page.reload();
  await page.locator('#app-view').waitFor({ state: 'visible' });
  await notes.getByText('Water the office plants on Friday').waitFor();
  await page.getByRole('link', { name: '← Kiosk' }).click();
  await page.locator('#app-view').waitFor({ state: 'hidden' });
  t.is(new URL(page.url()).hash, '');
  const apps = (await agent.api('/api/apps')).apps;
  t.is(apps.find((a: { name: string }) => a.name === 'notes').starts, 2);
});

test.serial('at phone width the kiosk fits the screen and Stop changes the state shown', async (t) => {
  const page = await openKiosk();
  t.teardown(() => page.close());
  await page.setViewportSize({ width: 390, height: 844 });
  await expectState(page, 'notes', 'running');
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
  const box = await card(page, 'notes').boundingBox();
  t.true(box !== null && box.width <= 390 && box.x >= 0);
  await page.locator('#device dt').filter({ hasText: 'Up for' }).waitFor();
  await page.screenshot({ path: await screenshotPath('kiosk-phone.png'), fullPage: true });
  await button(page, 'notes', 'Stop').click();
  await expectState(page, 'notes', 'stopped');
  // Stop does not apply any more: it stays focusable but says so.
  t.is(await button(page, 'notes', 'Stop').getAttribute('aria-disabled'), 'true');
  t.is(await page.evaluate(() => document.activeElement?.textContent), 'Stop', 'focus stays on the button');
});

test.serial('failures in plain words: an unreachable registry, then a channel whose signature does not match', async (t) => {
  // No registry at all: the agent retries, the kiosk counts down.
  const closed = await serveRegistry(registry.dir);
  const deadUrl = closed.url;
  await closed.close();
  const lonely = await startAgent({ registry: deadUrl, rootBytes: registry.rootBytes, limits: { channelRetryMinMs: 8000, channelRetryMaxMs: 8000 } });
  t.teardown(async () => void (await lonely.stop()));
  const page = await browser.context.newPage();
  t.teardown(() => page.close());
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(lonely.url);
  const problem = page.locator('#channel-problem');
  await problem.filter({ hasText: /The registry is unreachable, retrying in \d s\./ }).waitFor();
  t.regex(await problem.innerText(), /^The registry is unreachable, retrying in [1-8] s\.$/);
  t.is(await problem.getAttribute('role'), 'alert');
  t.regex(await page.locator('#channel').innerText(), /retrying/);
  t.regex(await page.locator('#apps-empty').innerText(), /channel could not be read/);
  await page.screenshot({ path: await screenshotPath('kiosk-unreachable.png') });

  const other = await makeRegistry({ images: ['hello'] });
  t.teardown(() => other.cleanup());
  // A channel whose signed part was changed after signing (here: its version), as a tampering mirror would.
  const channelFile = join(other.dir, 'channels', 'stable.json');
  const channel = JSON.parse(await readFile(channelFile, 'utf8'));
  channel.signed.version += 1;
  await writeFile(channelFile, JSON.stringify(channel));
  const otherServer = await serveRegistry(other.dir);
  t.teardown(() => otherServer.close());
  const refused = await startAgent({ registry: otherServer.url, rootBytes: other.rootBytes, limits: { channelRetryMinMs: 60_000, channelRetryMaxMs: 60_000 } });
  t.teardown(async () => void (await refused.stop()));
  await page.goto(refused.url);
  await problem.filter({ hasText: /signature is not trusted/ }).waitFor();
  t.regex(await problem.innerText(), /^The channel's signature is not trusted, so nothing new is installed\. Checking again in \d+ s\.$/);
  t.regex(await page.locator('#channel').innerText(), /not updating/);
  await page.screenshot({ path: await screenshotPath('kiosk-untrusted.png') });
});
