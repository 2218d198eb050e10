// Proves: no page can frame the kiosk (clickjacking). A page on another origin — an app's port or any site — that
// puts the kiosk in an invisible iframe over a decoy button gets an empty frame in real Chromium: the kiosk sends
// `Content-Security-Policy: frame-ancestors 'none'` and `X-Frame-Options: DENY`, so a click on the decoy presses
// nothing of the kiosk's, and the app stays as it was. The kiosk itself still runs under its strict policy.
import test from 'ava';
import { cp } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { agentEnv, json } from '../support/agent.js';
import { launchChromium } from '../support/browser.js';
import { IMAGES, REPO } from '../support/registry.js';

test('the kiosk cannot be framed by another origin, and still works under its own policy', async (t) => {
  const env = await agentEnv({ images: [join(IMAGES, 'hello')] });
  const kiosk = `http://127.0.0.1:${env.agent.api.port}/`;
  await cp(join(REPO, 'dist', 'kiosk'), join(env.base, 'kiosk'), { recursive: true }); // the built kiosk (npm run build)
  const attacker = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(
      `<!doctype html><button id="decoy" style="position:absolute;top:0;left:0;width:100%;height:100%">Win a prize</button>` +
        `<iframe id="victim" src="${kiosk}" style="position:absolute;top:0;left:0;width:100%;height:100%;opacity:0.01"></iframe>`,
    );
  });
  await new Promise<void>((done) => attacker.listen(0, '127.0.0.1', done));
  const browser = await launchChromium();
  try {
    const headers = (await fetch(kiosk)).headers;
    t.regex(headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    t.is(headers.get('x-frame-options'), 'DENY');

    const page = await browser.context.newPage();
    const refused: string[] = [];
    page.on('console', (m) => refused.push(m.text()));
    await page.goto(`http://127.0.0.1:${(attacker.address() as { port: number }).port}/`);
    const frame = await (await page.$('#victim'))!.contentFrame();
    await page.waitForTimeout(1000);
    const kioskInFrame = await frame!.$('#apps-title').catch(() => null);
    t.is(kioskInFrame, null, 'the kiosk did not load inside the frame');
    t.true(refused.some((line) => /frame-ancestors|X-Frame-Options|refused to display/i.test(line)), refused.join('\n'));

    // The kiosk itself, at its own address, renders and lists the app under the same policy.
    const own = await browser.context.newPage();
    const violations: string[] = [];
    own.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
    await own.goto(kiosk);
    await own.waitForSelector('text=hello', { timeout: 20_000 });
    t.deepEqual(violations, [], 'the kiosk breaks none of its own policy');
    const apps = await json(await env.api('/api/apps'));
    t.is(apps.apps[0].state, 'available', 'nothing was started or stopped');
  } finally {
    await browser.close();
    attacker.close();
    await env.teardown();
  }
});
