// Crypto benchmark (issue 18, item 5). Part 1 — encrypted pull: the same mixed-file image published twice, plain and
// `--encrypt-to` one device, each served by `bootos serve` on loopback; `bootos pull` into a cold store, the two
// alternating, median of the runs. The figure is the encrypted pull's throughput ÷ the plain pull's (target ≥ 0.9),
// in wall time and in CPU time (the machine is shared; CPU seconds are the steadier measure of the work done).
//   npm run bench:crypto                      128 MiB image, 5 runs of each
//   npm run bench:crypto -- --mib 256 --runs 3
// Part 2 — /data at rest, encrypted ÷ plain write and read throughput (target ≥ 0.8): not measured yet; it comes with
// the encrypted data root (issue 18, item 3), in the slot marked below.
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateKey } from '../fetcher/src/trust/keys.js';
import { publishImage } from '../fetcher/src/publish/publish.js';
import { initRoot, signChannel } from '../fetcher/src/publish/signer.js';
import { writeSealKeyPair } from '../fetcher/src/trust/sealed-box.js';
import { childCpuSeconds, median } from './measure.js';
import { writeMixedImage } from './mixed-image.js';

const REPO = new URL('..', import.meta.url).pathname;
const BIN = join(REPO, 'bin', 'bootos.mjs');

const { values } = parseArgs({ options: { mib: { type: 'string', default: '128' }, runs: { type: 'string', default: '5' } } });
const MIB = Number(values.mib);
const RUNS = Number(values.runs);
if (!(MIB > 0) || !(RUNS > 0)) throw new Error('--mib and --runs must be positive numbers');

const work = join(tmpdir(), 'bootos-bench-crypto');
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Wall and CPU seconds (user + system of the reaped child: cutime + cstime grow by its share) of one program run. */
function run(command: string, args: string[]): Promise<{ wall: number; cpu: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const cpuBefore = childCpuSeconds();
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`));
      Promise.all([cpuBefore, childCpuSeconds()]).then(([a, b]) => resolve({ wall, cpu: b - a }), reject);
    });
  });
}

function serve(registry: string): Promise<{ url: string; stop(): void }> {
  const server = spawn(process.execPath, [BIN, 'serve', '--registry', registry, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => server.stdout!.once('data', (d) => resolve({ url: String(d).trim(), stop: () => server.kill('SIGTERM') })));
}

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const image = await writeMixedImage(join(work, 'image'), MIB * 2 ** 20);
log(`generated ${image.files} files, ${(image.bytes / 2 ** 20).toFixed(0)} MiB`);
const key = generateKey();
const device = await writeSealKeyPair(join(work, 'device'));
const registries = { plain: join(work, 'plain'), encrypted: join(work, 'encrypted') };
let layerBytes = 0;
for (const [kind, dir] of Object.entries(registries)) {
  await initRoot({ registry: dir, keys: [key.publicKey], threshold: 1, signers: [key], expiresMs: 86_400_000 });
  const t0 = Date.now();
  const published = await publishImage(join(work, 'image'), dir, kind === 'encrypted' ? { encryptTo: [{ id: 'bench-device', seal: device.publicKey }] } : {});
  layerBytes = published.layers[0]!.size;
  log(`published ${kind}: layer ${(layerBytes / 2 ** 20).toFixed(1)} MiB in ${Date.now() - t0} ms`);
  await signChannel({ registry: dir, name: 'stable', profiles: { office: [published.name] }, signers: [key], expiresMs: 86_400_000 });
}

const servers = { plain: await serve(registries.plain), encrypted: await serve(registries.encrypted) };
const results = { plain: [] as { wall: number; cpu: number }[], encrypted: [] as { wall: number; cpu: number }[] };
try {
  for (let i = 0; i < RUNS; i++) {
    for (const kind of (i % 2 ? ['encrypted', 'plain'] : ['plain', 'encrypted']) as ('plain' | 'encrypted')[]) {
      const store = join(work, 'store');
      await rm(store, { recursive: true, force: true });
      const args = [BIN, 'pull', 'bench', '--registry', servers[kind].url, '--root', join(registries[kind], 'root.json'), '--channel', 'stable', '--store', store];
      if (kind === 'encrypted') args.push('--seal-key', join(work, 'device.seal.key'));
      const r = await run(process.execPath, args);
      results[kind].push(r);
      log(`run ${i + 1}/${RUNS} ${kind}: ${r.wall.toFixed(2)} s wall, ${r.cpu.toFixed(2)} s CPU`);
    }
  }
} finally {
  servers.plain.stop();
  servers.encrypted.stop();
  await rm(join(work, 'store'), { recursive: true, force: true });
}

const mib = (bytes: number) => bytes / 2 ** 20;
const wall = (k: 'plain' | 'encrypted') => median(results[k].map((r) => r.wall));
const cpu = (k: 'plain' | 'encrypted') => median(results[k].map((r) => r.cpu));
console.log(`image: ${mib(image.bytes).toFixed(0)} MiB in ${image.files} files; layer ${mib(layerBytes).toFixed(1)} MiB; ${RUNS} runs each (median), bootos pull into a cold store from bootos serve on loopback`);
console.log('| pull                        | wall s | MiB/s (unpacked) | CPU s | ratio (wall) | ratio (CPU) |');
console.log('| --------------------------- | ------ | ---------------- | ----- | ------------ | ----------- |');
for (const k of ['plain', 'encrypted'] as const) {
  console.log(
    `| ${(k === 'plain' ? 'plain layer' : 'encrypted (AES-256-GCM)').padEnd(27)} | ${wall(k).toFixed(2).padStart(6)} | ${(mib(image.bytes) / wall(k)).toFixed(1).padStart(16)} | ${cpu(k).toFixed(2).padStart(5)} | ${(wall('plain') / wall(k)).toFixed(2).padStart(12)} | ${(cpu('plain') / cpu(k)).toFixed(2).padStart(11)} |`,
  );
}
const ratio = wall('plain') / wall('encrypted');
console.log(`target: encrypted ÷ plain pull throughput ${ratio.toFixed(2)} ${ratio >= 0.9 ? '≥' : '<'} 0.9 (${ratio >= 0.9 ? 'met' : 'not met'})`);
// Slot: /data at rest (issue 18, item 3) — encrypted ÷ plain write and read throughput of an app's /data, target ≥ 0.8.
console.log('/data at rest (encrypted ÷ plain write/read, target ≥ 0.8): not measured yet (comes with the encrypted data root)');
await rm(work, { recursive: true, force: true });
