// images/calc: the web calculator. Published and fetched like a device would, run on the host's node, exercised
// over HTTP: it computes with the usual precedence and refuses anything that is not arithmetic, with a code.
import test from 'ava';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { publishAndUnpack, runApp, type RunningApp } from '../support/image-app.js';

let app: RunningApp;

test.before(async (t) => {
  const image = await publishAndUnpack('calc');
  t.context = image;
  app = await runApp(image);
});
test.after.always(async (t) => {
  await app?.stop();
  const image = t.context as Awaited<ReturnType<typeof publishAndUnpack>> | undefined;
  if (image) await Promise.all([image.registry.cleanup(), rm(dirname(image.rootfs), { recursive: true, force: true })]);
});

async function evalPost(expr: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${app.url}/api/eval`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ expr }) });
  return { status: res.status, body: await res.json() };
}

test('the published config: node runtime, public port 8082, frozen after 30 s idle', (t) => {
  const image = t.context as Awaited<ReturnType<typeof publishAndUnpack>>;
  t.is(image.config.runtime, 'node');
  t.deepEqual(image.config.ports, [{ name: 'http', port: 8080, public: 8082 }]);
  t.deepEqual(image.config.idle, { afterSeconds: 30, action: 'freeze' });
  t.is(image.config.health?.http, '/health');
});

test('computes with precedence, powers, parentheses and decimals', async (t) => {
  const cases: [string, number, string][] = [
    ['2+3*4', 14, '14'],
    ['(2+3)*4', 20, '20'],
    ['-2^2', -4, '-4'],
    ['2^3^2', 512, '512'],
    ['7 % 4', 3, '3'],
    ['10/4', 2.5, '2.5'],
    ['3×4−1', 11, '11'],
  ];
  for (const [expr, value, display] of cases) {
    const { status, body } = await evalPost(expr);
    t.is(status, 200, expr);
    t.is(body.value, value, expr);
    t.is(body.display, display, expr);
  }
  t.is((await evalPost('0.1+0.2')).body.display, '0.3');
  const get = await fetch(`${app.url}/api/eval?expr=${encodeURIComponent('2+3*4')}`);
  t.is((await get.json()).value, 14);
});

test('refuses junk with a coded error and never runs it', async (t) => {
  const refused: [unknown, string][] = [
    ['process.exit(1)', 'SYNTAX'],
    ['require("fs")', 'SYNTAX'],
    ['2+', 'SYNTAX'],
    ['(1+2', 'SYNTAX'],
    ['2 3', 'SYNTAX'],
    ['', 'EMPTY'],
    [42, 'SYNTAX'],
    ['1/0', 'DIVISION_BY_ZERO'],
    ['10^400', 'NOT_FINITE'],
    ['('.repeat(100) + '1' + ')'.repeat(100), 'TOO_DEEP'],
    ['1+'.repeat(200) + '1', 'TOO_LONG'],
  ];
  for (const [expr, code] of refused) {
    const { status, body } = await evalPost(expr);
    t.is(status, 400, String(expr));
    t.is(body.error.code, code, String(expr));
  }
  const notJson = await fetch(`${app.url}/api/eval`, { method: 'POST', body: 'expr=2+2' });
  t.is(notJson.status, 400);
  t.is((await notJson.json()).error.code, 'BAD_REQUEST');
  const huge = await fetch(`${app.url}/api/eval`, { method: 'POST', body: JSON.stringify({ expr: '1'.repeat(10_000) }) });
  t.is(huge.status, 413);
  // Still alive and well after all that.
  t.is((await evalPost('2+3*4')).body.value, 14);
  t.is(app.process.exitCode, null);
});

test('serves its page and script, and 404s the rest', async (t) => {
  const page = await fetch(`${app.url}/`);
  t.is(page.status, 200);
  t.regex(await page.text(), /<title>Calculator<\/title>/);
  const script = await fetch(`${app.url}/calc.js`);
  t.is(script.status, 200);
  t.regex(script.headers.get('content-type') ?? '', /javascript/);
  t.is((await fetch(`${app.url}/expr.js`)).status, 404);
  t.is((await fetch(`${app.url}/../server.js`)).status, 404);
});
