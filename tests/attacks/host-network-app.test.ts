// Proves: an image with `network: host` runs only when its channel's profile entry allows it (hostNetwork: true),
// else it is refused at start (HOST_NETWORK_NOT_ALLOWED, answered on its port); and an allowed one, whose requests
// come from 127.0.0.1 like the device's own programs, still cannot change state through the API: a loopback peer
// must be a root-owned socket (apps never run as root). Before the fix such an app stopped another app with a 202.
import test from 'ava';
import { join } from 'node:path';
import { agentEnv, json, until } from '../support/agent.js';
import { IMAGES, makeImageDir } from '../support/registry.js';
import { socketOwner } from '../../bootos/src/agent/api/peer-uid.js';
import { createServer, connect } from 'node:net';

const ATTACKER_PORT = 18_771;

// A Node app on the host's network: GET /attack?api=PORT&victim=NAME posts a stop for NAME to the device API.
const SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/health') return res.end('ok');
  const api = url.searchParams.get('api');
  const victim = url.searchParams.get('victim');
  const r = http.request({ host: '127.0.0.1', port: Number(api), method: 'POST', path: '/api/apps/' + victim + '/stop', headers: { host: '127.0.0.1:' + api } }, (a) => {
    let body = '';
    a.on('data', (c) => (body += c));
    a.on('end', () => res.end(JSON.stringify({ status: a.statusCode, body })));
  });
  r.on('error', (e) => res.end(JSON.stringify({ error: e.message })));
  r.end();
}).listen(${ATTACKER_PORT}, '127.0.0.1');
`;

async function attackerImage(): Promise<string> {
  return makeImageDir(
    { 'server.js': SERVER },
    `name: attacker\nversion: 1.0.0\nruntime: node\nentrypoint: [node, /app/server.js]\nnetwork: host\nports:\n  - port: ${ATTACKER_PORT}\n    public: 18772\nhealth:\n  http: /health\n`,
  );
}

test.serial('network: host without the profile allowing it: refused at start, coded, on its port', async (t) => {
  const env = await agentEnv({ images: [await attackerImage()], profiles: { office: ['attacker'] } });
  try {
    const res = await env.get('attacker', '/health');
    t.is(res.status, 503);
    t.is((await res.json()).error.code, 'HOST_NETWORK_NOT_ALLOWED');
    t.deepEqual(env.agent.apps.get('attacker')!.containerIds(), []);
  } finally {
    t.deepEqual((await env.teardown()).leftovers, []);
  }
});

test.serial('an allowed network: host app cannot stop another app through the API from 127.0.0.1', async (t) => {
  const env = await agentEnv({
    images: [await attackerImage(), join(IMAGES, 'hello')],
    profiles: { office: [{ image: 'attacker', hostNetwork: true }, 'hello'] },
  });
  try {
    t.is((await env.get('hello', '/health')).status, 200);
    const hello = env.agent.apps.get('hello')!;
    await until(() => hello.connections === 0);
    const attack = await json(await env.get('attacker', `/attack?api=${env.agent.api.port}&victim=hello`));
    t.is(attack.status, 403, JSON.stringify(attack));
    t.regex(attack.body, /FORBIDDEN.*only from the device's own programs \(root\)/);
    t.is(hello.state, 'running', 'the victim keeps running');
    // The device's own programs (this test, as root) still may.
    const own = await env.api('/api/apps/hello/stop', { method: 'POST' });
    t.is(own.status, 202);
    await until(() => hello.state === 'stopped');
  } finally {
    t.deepEqual((await env.teardown()).leftovers, []);
  }
});

test('socketOwner: the uid of a loopback peer, over IPv4 and IPv6', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, host, () => r()));
    const port = (server.address() as { port: number }).port;
    const accepted = new Promise<{ address: string; port: number }>((r) => server.once('connection', (s) => r({ address: s.remoteAddress!, port: s.remotePort! })));
    const client = connect(port, host);
    const peer = await accepted;
    t.is(await socketOwner(peer.address, peer.port), process.getuid!(), host);
    t.is(await socketOwner(peer.address, 1), null);
    client.destroy();
    server.close();
  }
});
