// Proves: the display app is the device's own screen for the API (it may stop an app, and it alone hears the home
// key's `screen` events), and nothing else gets that
// from the same trick: another app calling the API from its own namespace, or a page of another app shown in the
// screen's browser (it has another origin). The screen is recognised by its peer address, the veth of a running
// instance of the profile's `display: true` entry (api.ts fromScreen); before, only root-owned loopback sockets were
// the device, so the screen could not change anything. Against the real agent and runc, the API on 0.0.0.0 as on a
// device (its veth side is where apps reach it).
import test from 'ava';
import { rm } from 'node:fs/promises';
import type { Events } from '../../bootos/src/agent/events.js';
import { agentEnv, json, until } from '../support/agent.js';
import { makeImageDir } from '../support/registry.js';

/**
 * GET /call?path=/api/…&method=POST[&origin=…]: makes that request to the agent's API from inside the app and answers
 * {status, body}. The API is at BOOTOS_KIOSK_URL for the screen, else at the app's veth's device side.
 */
const CALLER = `
const http = require('node:http');
const os = require('node:os');
const mine = Object.values(os.networkInterfaces()).flat().find((a) => a.family === 'IPv4' && !a.internal).address.split('.').map(Number);
const api = process.env.BOOTOS_KIOSK_URL ? new URL(process.env.BOOTOS_KIOSK_URL) : null;
const agentHost = api ? api.hostname : [...mine.slice(0, 3), (mine[3] & ~3) | 1].join('.');
// The \`screen\` events this app's event stream received.
let screenEvents = 0;
let allEvents = 0;
const listen = (port) =>
  http.get({ host: agentHost, port, path: '/api/events' }, (answer) => {
    answer.setEncoding('utf8');
    answer.on('data', (d) => {
      screenEvents += (d.match(/^event: screen$/gm) || []).length;
      allEvents += (d.match(/^event: /gm) || []).length;
    });
  }).on('error', () => {});
// As the kiosk page on the screen does: its event stream open is what makes the display app ready.
if (api) listen(Number(api.port));
http.createServer((req, res) => {
  const q = new URL(req.url, 'http://x').searchParams;
  if (q.get('listen')) return listen(Number(q.get('listen'))), res.end('ok');
  if (q.get('seen') !== null) return res.end(screenEvents + '/' + allEvents);
  if (!q.get('path')) return res.end('ok');
  const host = agentHost;
  const port = api ? Number(api.port) : Number(q.get('port'));
  const headers = q.get('origin') ? { origin: q.get('origin') } : {};
  const call = http.request({ host, port, path: q.get('path'), method: q.get('method') || 'GET', headers }, (answer) => {
    let body = '';
    answer.on('data', (d) => (body += d));
    answer.on('end', () => res.end(JSON.stringify({ status: answer.statusCode, body })));
  });
  call.on('error', (err) => res.end(JSON.stringify({ status: 0, body: err.message })));
  call.end();
}).listen(8080);
`;

const image = (name: string, port: number) =>
  makeImageDir({ 'server.js': CALLER }, [`name: ${name}`, 'version: 1.0.0', 'runtime: node', 'entrypoint: [node, /app/server.js]', 'ports:', '  - port: 8080', `    public: ${port}`, 'resources:', '  memory: 64Mi', 'files:', '  - from: server.js', '    to: /app/server.js', ''].join('\n'));

test('the display app may stop an app; another app, and a foreign page in the screen, get 403', async (t) => {
  const dirs = [await image('screen', 18301), await image('other', 18302), await image('victim', 18303)];
  const env = await agentEnv({ images: dirs, host: '0.0.0.0', profiles: { office: [{ image: 'screen', display: true }, 'other', 'victim'] } });
  try {
    const apiPort = env.agent.api.port;
    const call = async (from: string, path: string, method = 'GET', origin?: string) =>
      json(await env.get(from, `/?path=${encodeURIComponent(path)}&method=${method}&port=${apiPort}${origin ? `&origin=${encodeURIComponent(origin)}` : ''}`));
    t.is((await env.get('victim')).status, 200);
    const victim = env.agent.apps.get('victim')!;
    await until(() => victim.connections === 0);

    const role = await call('screen', '/api/pairing');
    t.is(JSON.parse(role.body).role, 'device', 'the screen is the device');
    const otherRole = await call('other', '/api/pairing');
    t.is(JSON.parse(otherRole.body).role, 'visitor', 'another app is a visitor');

    const fromOther = await call('other', '/api/apps/victim/stop', 'POST');
    t.is(fromOther.status, 403, fromOther.body);
    t.is(JSON.parse(fromOther.body).error.code, 'FORBIDDEN');
    // A page of another app inside the screen's browser: the browser sends that page's origin.
    const framed = await call('screen', '/api/apps/victim/stop', 'POST', 'http://10.213.0.1:18303');
    t.is(framed.status, 403, framed.body);
    t.is(victim.state, 'running', 'nothing stopped the victim so far');

    const fromScreen = await call('screen', '/api/apps/victim/stop', 'POST');
    t.is(fromScreen.status, 202, fromScreen.body);
    await until(() => victim.state === 'stopped');

    // The home key's event goes to the screen's stream alone: another app listening gets none.
    await env.get('other', `/?listen=${apiPort}`);
    await new Promise((r) => setTimeout(r, 500));
    (env.agent as unknown as { events: Events }).events.screen('home');
    await until(async () => (await (await env.get('screen', '/?seen')).text()).startsWith('1/'));
    await new Promise((r) => setTimeout(r, 300));
    const [screenKeys, all] = (await (await env.get('other', '/?seen')).text()).split('/').map(Number);
    t.true(all! > 0, "the other app's stream is open and gets the apps events");
    t.is(screenKeys, 0, "another app never hears the screen's keys");
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});
