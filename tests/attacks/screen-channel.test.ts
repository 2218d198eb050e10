// Proves: the display app is the device's own screen for the API (it may stop an app), and nothing else gets that
// from the same trick: another app calling the API from its own namespace, or a page of another app shown in the
// screen's browser (it has another origin). The screen is recognised by its peer address, the veth of a running
// instance of the profile's `display: true` entry (api.ts fromScreen); before, only root-owned loopback sockets were
// the device, so the screen could not change anything. Against the real agent and runc, the API on 0.0.0.0 as on a
// device (its veth side is where apps reach it).
import test from 'ava';
import { rm } from 'node:fs/promises';
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
http.createServer((req, res) => {
  const q = new URL(req.url, 'http://x').searchParams;
  if (!q.get('path')) return res.end('ok');
  const host = api ? api.hostname : [...mine.slice(0, 3), (mine[3] & ~3) | 1].join('.');
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
    t.pass();
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});
