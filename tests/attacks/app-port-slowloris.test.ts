// Proves: a LAN client that opens connections to app ports and never finishes its requests (slowloris) cannot
// exhaust the agent's descriptors. Connections are capped per client address (all apps together), per app and in all
// (admission.ts; a connection over a cap is closed at once), and a proxied connection with no bytes either way for
// proxyIdleTimeoutMs is closed. With the agent's process at 1024 open files, 900 half-open requests from one address
// across three app ports leave the API answering and another client's app answering; before, the agent ran out of
// descriptors. Against the real agent and runc; the attacker binds 127.0.0.2 (all of 127/8 is loopback on Linux).
import test from 'ava';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { agentEnv, until, type AgentEnv } from '../support/agent.js';
import { probe } from '../support/http-probe.js';
import { makeImageDir } from '../support/registry.js';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const LIMITS = { proxyMaxConnectionsPerClient: 20, proxyMaxConnectionsPerApp: 40, proxyMaxConnections: 50, proxyIdleTimeoutMs: 1_500 };

const SERVER = `require('node:http').createServer((req, res) => res.end('ok')).listen(8080);`;

async function withApps(run: (env: AgentEnv, ports: number[]) => Promise<void>): Promise<void> {
  const images = await Promise.all(
    [1, 2, 3].map((n) =>
      makeImageDir(
        { 'server.js': SERVER },
        [`name: tiny${n}`, 'version: 1.0.0', 'runtime: node', 'entrypoint: [node, /app/server.js]', 'ports:', '  - port: 8080', `    public: ${18200 + n}`, 'resources:', '  memory: 64Mi', 'files:', '  - from: server.js', '    to: /app/server.js', ''].join('\n'),
      ),
    ),
  );
  const env = await agentEnv({ images, limits: LIMITS });
  try {
    const ports = [1, 2, 3].map((n) => [...env.agent.apps.get(`tiny${n}`)!.publicPorts.values()][0]!);
    for (const port of ports) {
      const up = await probe(port, '/', 20_000);
      if (!('status' in up) || up.status !== 200) throw new Error(`app on ${port} did not start: ${JSON.stringify(up)}`);
    }
    await run(env, ports);
  } finally {
    const { leftovers } = await env.teardown();
    for (const image of images) await rm(image, { recursive: true, force: true });
    if (leftovers.length) throw new Error(`left behind: ${leftovers.join(', ')}`);
  }
}

/** A connection from `localAddress` that sends the start of a request and nothing more; `closed` once the agent drops it. */
function halfOpen(port: number, localAddress: string): Promise<{ socket: Socket; closed: Promise<number> } | null> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - t0)));
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write('GET / HTTP/1.1\r\nHost: device\r\nX-Slow: '); // never finished
      resolve({ socket, closed });
    });
    socket.once('close', () => resolve(null));
  });
}

/** Sets the soft open-files limit of this test process (where the agent runs); returns the one it had. */
async function setNoFile(soft: string): Promise<string> {
  const { stdout } = await execFileP('prlimit', ['--pid', String(process.pid), '--nofile', '--output=SOFT', '--noheadings']);
  await execFileP('prlimit', ['--pid', String(process.pid), `--nofile=${soft}:`]);
  return stdout.trim();
}

test.serial('900 half-open requests from one address: the API and another client are answered; idle ones are closed', (t) =>
  withApps(async (env, ports) => {
    const before = await setNoFile('1024'); // a small device's agent
    const held: { socket: Socket; closed: Promise<number> }[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const opened = await Promise.all(ports.map((port) => halfOpen(port, '127.0.0.2')));
        for (const o of opened) if (o) held.push(o);
      }
      await sleep(200);
      const open = held.filter((h) => !h.socket.destroyed);
      t.log(`${held.length} connected, ${open.length} still open after the agent's caps`);
      const health = await probe(env.agent.api.port, '/api/health', 5_000);
      const others = await Promise.all(ports.map((port) => probe(port, '/', 5_000, '127.0.0.3')));
      const got = (o: Awaited<ReturnType<typeof probe>>) => ('status' in o ? o.status : o.error);
      t.log(`meanwhile: /api/health ${got(health)}; another client: ${others.map(got).join(', ')}`);
      t.true(open.length <= LIMITS.proxyMaxConnectionsPerClient, `the attacker holds ${open.length} connections`);
      t.is(got(health), 200, 'the API answers');
      for (const other of others) t.is(got(other), 200, 'another client gets each app');

      // Nothing more comes from the attacker: its connections are closed once idle for proxyIdleTimeoutMs.
      const lasted = await Promise.all(open.map((h) => h.closed));
      t.true(lasted.every((ms) => ms < LIMITS.proxyIdleTimeoutMs + 4_000), `closed after ${Math.max(...lasted)} ms at most`);
      t.true(lasted.every((ms) => ms >= LIMITS.proxyIdleTimeoutMs - 100), `none closed before the idle limit (${Math.min(...lasted)} ms)`);
      await until(() => env.agent.apps.get('tiny1')!.connections === 0);
      const again = await probe(ports[0]!, '/', 5_000, '127.0.0.2');
      t.is('status' in again ? again.status : again.error, 200, 'the attacker\'s address is served again once its connections are gone');
    } finally {
      for (const h of held) h.socket.destroy();
      await setNoFile(before);
    }
  }));

test.serial('caps per app and in all: one more connection is closed at once, a closed one frees its place', (t) =>
  withApps(async (_env, ports) => {
    const held: { socket: Socket; closed: Promise<number> }[] = [];
    const count = () => held.filter((h) => !h.socket.destroyed).length;
    try {
      // 45 connections to one app from three addresses (15 each, under the per-client cap): 40 are kept.
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < 15; i++) {
          const o = await halfOpen(ports[0]!, `127.0.1.${c + 1}`);
          if (o) held.push(o);
        }
      }
      await sleep(200);
      t.is(count(), LIMITS.proxyMaxConnectionsPerApp, 'per app');
      // 20 more to the second app: 10 fit under the total of 50.
      for (let i = 0; i < 20; i++) {
        const o = await halfOpen(ports[1]!, '127.0.1.9');
        if (o) held.push(o);
      }
      await sleep(200);
      t.is(count(), LIMITS.proxyMaxConnections, 'in all');
      const refused = await probe(ports[2]!, '/', 2_000, '127.0.1.10');
      t.false('status' in refused, 'a new client is closed at once while the total is reached');
      held.find((h) => !h.socket.destroyed)!.socket.destroy();
      await sleep(100);
      const served = await probe(ports[2]!, '/', 5_000, '127.0.1.10');
      t.is('status' in served ? served.status : served.error, 200, 'a closed connection frees its place');
    } finally {
      for (const h of held) h.socket.destroy();
    }
  }));
