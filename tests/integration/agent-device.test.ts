// GET /api/device on the host, from the agent's device bundle (dist/agent.mjs): it answers fast enough for the kiosk
// not to say "Reading the device…" for seconds (it took 3.8–4.5 s on a QEMU guest with systeminformation), and its
// storage is the data root (apps' /data), not the OS's /usr.
import test from 'ava';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { serveRegistry, startAgent, type AgentProcess, type SlowRegistry } from '../support/agent-process.js';
import { makeRegistry, type TestRegistry } from '../support/registry.js';

/** Per call, after the first. The reads take 2–10 ms here; the margin is for a machine busy with other tests. */
const DEVICE_MAX_MS = 200;

let registry: TestRegistry;
let server: SlowRegistry;
let agent: AgentProcess;

test.before(async () => {
  registry = await makeRegistry({ images: ['hello'] });
  server = await serveRegistry(registry.dir);
  agent = await startAgent({ registry: server.url, rootBytes: registry.rootBytes });
});

test.after.always(async () => {
  await agent?.stop();
  await server?.close();
  await registry?.cleanup();
});

async function timedDevice(): Promise<{ ms: number; body: any }> {
  const t0 = performance.now();
  const res = await fetch(new URL('/api/device', agent.url));
  const body = await res.json();
  return { ms: performance.now() - t0, body };
}

test.serial(`/api/device answers in < ${DEVICE_MAX_MS} ms, each of 5 calls after the first`, async (t) => {
  const first = await timedDevice();
  t.log(`first call: ${first.ms.toFixed(1)} ms`);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await timedDevice()).ms);
  const sorted = [...times].sort((a, b) => a - b);
  t.log(`next 5 calls: ${times.map((ms) => ms.toFixed(1)).join(', ')} ms (median ${sorted[2]!.toFixed(1)} ms)`);
  for (const ms of times) t.true(ms < DEVICE_MAX_MS, `a call took ${ms.toFixed(1)} ms`);
});

test.serial('/api/device: storage is the data root, memory from /proc/meminfo, the processor and the network', async (t) => {
  const { body: device } = await timedDevice();
  const dataRoot = join(agent.base, 'var', 'data');
  t.is(device.disks[0].mount, dataRoot, 'the first disk is the apps’ /data');
  const fs = await statfs(dataRoot);
  t.is(device.disks[0].sizeBytes, fs.blocks * fs.bsize);
  t.true(device.disks[0].usedBytes > 0 && device.disks[0].usedBytes <= device.disks[0].sizeBytes);
  // The store is on the same filesystem here: listed once.
  t.is(device.disks.length, 1);
  t.true(device.memory.totalBytes > 0 && device.memory.availableBytes > 0 && device.memory.availableBytes <= device.memory.totalBytes);
  t.true(device.cpu.cores > 0);
  t.not(device.cpu.brand, '');
  t.true(device.uptimeSeconds > 0);
  t.true(device.network.every((n: { iface: string }) => n.iface !== 'lo' && !/^bt\d+$/.test(n.iface)));
  t.is(device.bootos.version, '0.1.0');
});
