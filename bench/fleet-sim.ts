// Fleet simulation (`npm run fleet:sim [-- --devices 16 --mib 64]`), root only. One office on this host:
//   - a bridge with a private /24 that is free on this host (10.231.x.0/24), the host at .1;
//   - the central registry (docker-registry) and the office cache (nginx, `bootos cache config`) on the bridge address;
//   - N network namespaces ("devices"), each with a veth on the bridge at .10+i.
// Round 1 (baseline): every device runs `bootos pull` of the same image at the same moment straight from the central
// registry. Round 2: the same through the office cache (cold). Reports wall time, per-device times, bytes sent by
// the registry and by the cache. Everything it creates is removed at the end, also on failure or Ctrl-C.
import { spawn, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDockerRegistry, type DockerRegistry } from '../tests/support/docker-registry.js';
import { startOfficeCache, type OfficeCache } from '../tests/support/office-cache.js';
import { prepareBenchRegistry } from './bench-registry.js';

const REPO = new URL('..', import.meta.url).pathname;
const BOOTOS = join(REPO, 'bin', 'bootos.mjs');
const BRIDGE = 'bfleet0';
const NETNS = (i: number) => `bfleet-${i}`;
const VETH = (i: number) => `bfleet-h${i}`;

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '16' },
    mib: { type: 'string', default: '64' },
    'timeout-s': { type: 'string', default: '600' },
    'no-baseline': { type: 'boolean' },
  },
});
const DEVICES = Number(values.devices);
const MIB = Number(values.mib);
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
if (!Number.isInteger(DEVICES) || DEVICES < 1 || DEVICES > 200) throw new Error('--devices must be 1 to 200');
if (!(MIB > 0)) throw new Error('--mib must be positive');
if (process.getuid?.() !== 0) throw new Error('fleet:sim creates network namespaces and a bridge: run it as root');

const log = (line: string) => process.stderr.write(`fleet:sim: ${line}\n`);
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const tryIp = (...args: string[]) => {
  try {
    ip(...args);
  } catch {
    // already gone
  }
};

/** A /24 in 10.231–10.250.x.0 that no address or route of this host overlaps. */
function freeSubnet(): string {
  const used = ip('-4', 'route', 'show', 'table', 'all') + ip('-4', 'addr', 'show');
  for (let second = 231; second <= 250; second++) {
    for (let third = 0; third < 256; third += 17) {
      const prefix = `10.${second}.${third}.`;
      if (!used.includes(prefix) && !used.includes(`10.${second}.0.0/16`) && !used.includes('10.0.0.0/8')) return prefix;
    }
  }
  throw new Error('no free 10.x.y.0/24 found for the simulated office');
}

let created = 0;
let bridgeUp = false;
function teardownNetwork(): void {
  for (let i = 0; i < Math.max(created, DEVICES); i++) tryIp('netns', 'del', NETNS(i));
  if (bridgeUp) tryIp('link', 'del', BRIDGE);
  created = 0;
  bridgeUp = false;
}

function setUpNetwork(prefix: string): void {
  // Leftovers of an interrupted run have our names only; remove them first.
  for (let i = 0; i < DEVICES; i++) tryIp('netns', 'del', NETNS(i));
  tryIp('link', 'del', BRIDGE);
  ip('link', 'add', BRIDGE, 'type', 'bridge');
  bridgeUp = true;
  ip('addr', 'add', `${prefix}1/24`, 'dev', BRIDGE);
  ip('link', 'set', BRIDGE, 'up');
  for (let i = 0; i < DEVICES; i++) {
    ip('netns', 'add', NETNS(i));
    created = i + 1;
    ip('link', 'add', VETH(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS(i));
    ip('link', 'set', VETH(i), 'master', BRIDGE, 'up');
    ip('-n', NETNS(i), 'addr', 'add', `${prefix}${10 + i}/24`, 'dev', 'eth0');
    ip('-n', NETNS(i), 'link', 'set', 'eth0', 'up');
    ip('-n', NETNS(i), 'link', 'set', 'lo', 'up');
  }
}

interface DeviceResult {
  device: number;
  seconds: number;
  rootfs: string;
  manifestDigest: string;
}

/** Starts `bootos pull` in every namespace at once; resolves when all are done (or one failed, after killing the rest). */
async function pullEverywhere(url: string, image: string, rootFile: string, stores: string): Promise<{ wall: number; devices: DeviceResult[] }> {
  const started = process.hrtime.bigint();
  const runs = Array.from({ length: DEVICES }, (_, i) => {
    const args = ['netns', 'exec', NETNS(i), process.execPath, BOOTOS, 'pull', image, '--registry', url, '--root', rootFile, '--channel', 'stable', '--store', join(stores, `device-${i}`), '--arch', 'x86_64', '--json'];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    return {
      child,
      done: new Promise<DeviceResult>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          if (code !== 0) return reject(new Error(`device ${i}: bootos pull exited ${code ?? signal}:\n${err.slice(-1500)}`));
          const result = JSON.parse(out) as { rootfs: string; manifestDigest: string };
          resolve({ device: i, seconds, rootfs: result.rootfs, manifestDigest: result.manifestDigest });
        });
      }),
    };
  });
  try {
    const devices = await Promise.all(runs.map((r) => r.done));
    return { wall: Number(process.hrtime.bigint() - started) / 1e9, devices };
  } catch (err) {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await Promise.allSettled(runs.map((r) => r.done));
    throw err;
  }
}

/** Sum of response body bytes and the count of blob GETs per digest in a registry's access log slice. */
function registryTraffic(lines: string[]) {
  let bytes = 0;
  const blobGets = new Map<string, number>();
  for (const line of lines) {
    const m = /"(\w+) (\S+) HTTP\/[\d.]+" (\d+) (\d+)/.exec(line);
    if (!m) continue;
    bytes += Number(m[4]);
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(m[2]!);
    if (m[1] === 'GET' && blob) blobGets.set(blob[1]!, (blobGets.get(blob[1]!) ?? 0) + 1);
  }
  return { bytes, blobGets };
}

function cacheTraffic(lines: string[]) {
  let bytes = 0;
  const status = new Map<string, number>();
  for (const line of lines) {
    if (line.startsWith('unix:')) continue;
    const m = /" (\d+) (\d+) cache=(\S*)/.exec(line);
    if (!m) continue;
    bytes += Number(m[2]);
    status.set(m[3]!, (status.get(m[3]!) ?? 0) + 1);
  }
  return { bytes, status };
}

const mib = (n: number) => (n / 2 ** 20).toFixed(1);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

let registry: DockerRegistry | undefined;
let cache: OfficeCache | undefined;
let work = '';
const cleanup = async () => {
  await cache?.stop().catch(() => {});
  await registry?.stop().catch(() => {});
  teardownNetwork();
  if (work) await rm(work, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

let failed = false;
try {
  work = await mkdtemp(join(tmpdir(), 'bootos-fleet-sim-'));
  const prefix = freeSubnet();
  setUpNetwork(prefix);
  const hostAddr = `${prefix}1`;
  log(`office ${prefix}0/24 on ${BRIDGE}: ${DEVICES} devices in namespaces ${NETNS(0)}…${NETNS(DEVICES - 1)}`);
  registry = await startDockerRegistry({ addr: `${hostAddr}:0` });
  const bench = await prepareBenchRegistry(work, MIB, registry.url('fleet'), log);
  cache = await startOfficeCache(`http://${registry.host}`, { address: hostAddr, workers: 2 });
  const image = bench.image.name;
  const imageBytes = bench.layer.size;
  console.log(`\n${DEVICES} devices, image ${MIB} MiB of mixed files (${bench.files} files, layer ${mib(imageBytes)} MiB gzip)\n`);
  console.log('| round | wall (s) | device min / median / max (s) | registry sent (MiB) | cache sent (MiB) | blob GETs at the registry |');
  console.log('| --- | --- | --- | --- | --- | --- |');

  const rounds: { name: string; url: string; viaCache: boolean }[] = [
    ...(values['no-baseline'] ? [] : [{ name: 'direct to the registry (baseline)', url: registry.url('fleet'), viaCache: false }]),
    { name: 'through the office cache (cold)', url: cache.url('fleet'), viaCache: true },
  ];
  for (const round of rounds) {
    const stores = join(work, 'stores', round.viaCache ? 'cache' : 'direct');
    await mkdir(stores, { recursive: true });
    const registryBefore = registry.requests().length;
    const cacheBefore = (await cache.accessLog()).length;
    log(`${round.name}: ${DEVICES} × bootos pull ${round.url} ${image}`);
    const { wall, devices } = await pullEverywhere(round.url, image, bench.rootFile, stores);
    const digests = new Set(devices.map((d) => d.manifestDigest));
    if (digests.size !== 1) throw new Error(`devices pulled different images: ${[...digests].join(', ')}`);
    const reg = registryTraffic(registry.requests().slice(registryBefore));
    const served = cacheTraffic((await cache.accessLog()).slice(cacheBefore));
    const times = devices.map((d) => d.seconds);
    const blobGets = [...reg.blobGets.values()];
    console.log(
      `| ${round.name} | ${wall.toFixed(2)} | ${Math.min(...times).toFixed(2)} / ${med(times).toFixed(2)} / ${Math.max(...times).toFixed(2)} | ` +
        `${mib(reg.bytes)} | ${round.viaCache ? mib(served.bytes) : '–'} | ${reg.blobGets.size} blobs, ${Math.min(...blobGets)}–${Math.max(...blobGets)} GET(s) each |`,
    );
    if (round.viaCache) log(`cache statuses: ${[...served.status].map(([k, v]) => `${k || '-'}=${v}`).join(' ')}`);
    await rm(stores, { recursive: true, force: true });
  }
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await cleanup();
  log('cleaned up: namespaces, veths, bridge, nginx, docker-registry, temp files');
}
process.exitCode = failed ? 1 : 0;
