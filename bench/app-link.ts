// node --import tsx bench/app-link.ts — how the agent should reach an app in its own network namespace (as root):
// a veth pair (TCP to the app's address) or a Unix socket (the app would have to listen on one, or a bridge process
// inside the namespace would). One server process inside a fresh netns listens on both; the host side measures a
// new connection + one HTTP request, and the throughput of a 64 MiB response, over each. Baseline: host loopback.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIsolatedNetwork } from '../bootos/src/agent/runtime/network.js';

const ROUNDS = 300;
const dir = await mkdtemp(join(tmpdir(), 'bootos-link-'));
const sock = join(dir, 'app.sock');
const serverSource = (port: number, host: string, socketPath: string) => `
const http = require('node:http');
const big = Buffer.alloc(64 * 1024 * 1024, 1);
const handler = (req, res) => res.end(req.url === '/big' ? big : 'ok');
http.createServer(handler).listen(${port}, '${host}');
http.createServer(handler).listen(${JSON.stringify(socketPath)}, () => console.log('up'));
`;
const net = await createIsolatedNetwork('bench app-link');
const netns = net.netnsPath!.split('/').pop()!;
const inNs = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', serverSource(8080, '0.0.0.0', sock)], { stdio: ['ignore', 'pipe', 'inherit'] });
const local = spawn(process.execPath, ['-e', serverSource(18089, '127.0.0.1', join(dir, 'host.sock'))], { stdio: ['ignore', 'pipe', 'inherit'] });
await Promise.all([inNs, local].map((p) => new Promise((r) => p.stdout!.once('data', r))));

function once(target: { host?: string; port?: number; socketPath?: string }, path = '/'): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
    });
    req.on('error', reject);
    req.end();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const targets = {
  'host loopback (baseline)': { host: '127.0.0.1', port: 18089 },
  'veth pair (TCP into the netns)': { host: net.host, port: 8080 },
  'Unix socket (into the netns)': { socketPath: sock },
};
const rows = [];
try {
  for (const [name, target] of Object.entries(targets)) {
    for (let i = 0; i < 20; i++) await once(target);
    const xs = [];
    for (let i = 0; i < ROUNDS; i++) xs.push(await once(target));
    const bigMs = median([await once(target, '/big'), await once(target, '/big'), await once(target, '/big')]);
    rows.push({ link: name, 'connect+request median ms': median(xs).toFixed(3), '64 MiB MB/s': (64 / 1.048576 / (bigMs / 1000)).toFixed(0) });
  }
} finally {
  inNs.kill();
  local.kill();
  await net.close();
  await rm(dir, { recursive: true, force: true });
}
console.table(rows);
