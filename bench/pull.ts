// Pull benchmark: `bootos pull` into a cold store versus `curl -s URL | tar -xz` (the practical limit) and
// `curl -s -o /dev/null URL` (the wire), against the same registry served on loopback by `bootos serve`.
//   npm run bench:pull                      256 MiB image, 3 runs of each
//   npm run bench:pull -- --mib 64 --runs 5
// The image is generated deterministically (mixed small/medium/large files; text, random and sparse content) and
// cached under $TMPDIR/bootos-bench-pull/<MiB>/ between runs. Targets: ratio ≥ 0.9, peak RSS ≤ 100 MiB.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const REPO = new URL('..', import.meta.url).pathname;
const BIN = join(REPO, 'bin', 'bootos.mjs');
const PROBE = join(REPO, 'bench', 'rss-probe.mjs');

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' } } });
const MIB = Number(values.mib);
const RUNS = Number(values.runs);
if (!(MIB > 0) || !(RUNS > 0)) throw new Error('--mib and --runs must be positive numbers');

const work = join(tmpdir(), 'bootos-bench-pull', String(MIB));

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic image folder of about `mib` MiB of mixed files. */
async function generateImage(dir: string, mib: number): Promise<{ files: number; bytes: number }> {
  const rand = mulberry32(42);
  const words = 'the quick brown fox jumps over lazy dog boot image layer channel signed root store verify unpack stream node agent kiosk device registry mirror resume digest'.split(' ');
  const textParts: string[] = [];
  let textLength = 0;
  while (textLength < 2 << 20) {
    const line = `${Array.from({ length: 4 + Math.floor(rand() * 12) }, () => words[Math.floor(rand() * words.length)]).join(' ')}${rand() < 0.1 ? ` ${Math.floor(rand() * 1e6)}` : ''}\n`;
    textParts.push(line);
    textLength += line.length;
  }
  const text = Buffer.from(textParts.join(''));
  const dirs = ['lib', 'lib/core', 'lib/util', 'share', 'share/assets', 'share/assets/img', 'share/doc', 'bin', 'data/models', 'www/static/js'];
  const target = mib * 1024 * 1024;
  let bytes = 0;
  let files = 0;
  while (bytes < target) {
    const r = rand();
    let size = r < 0.7 ? 512 + Math.floor(rand() * 32 * 1024) : r < 0.95 ? 32 * 1024 + Math.floor(rand() * 1024 * 1024) : (1 + Math.floor(rand() * 15)) * 1024 * 1024;
    size = Math.min(size, target - bytes + 512);
    const kind = rand();
    let content: Buffer;
    if (kind < 0.5) {
      const start = Math.floor(rand() * (text.length - Math.min(size, text.length - 1)));
      content = Buffer.alloc(size);
      for (let at = 0; at < size; at += text.length) text.copy(content, at, at === 0 ? start : 0);
    } else if (kind < 0.8) {
      const iv = createHash('sha256').update(String(files)).digest().subarray(0, 16);
      content = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), iv).update(Buffer.alloc(size));
    } else {
      content = Buffer.alloc(size);
      for (let at = 0; at < size; at += 64 + Math.floor(rand() * 512)) content[at] = Math.floor(rand() * 256);
    }
    const sub = dirs[Math.floor(rand() * dirs.length)]!;
    await mkdir(join(dir, 'files', sub), { recursive: true });
    await writeFile(join(dir, 'files', sub, `f${files}.${kind < 0.5 ? 'txt' : 'bin'}`), content);
    bytes += size;
    files++;
  }
  await writeFile(join(dir, 'image.yaml'), `name: bench\nversion: 1.0.0\nruntime: node\nentrypoint: [node, -e, "0"]\nfiles:\n  - from: files\n    to: /app\n`);
  await writeFile(join(dir, '..', 'profiles.yaml'), 'profiles:\n  office:\n    - bench\n');
  return { files, bytes };
}

function bootos(args: string[]): string {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bootos ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout.trim();
}

async function prepare(): Promise<{ registry: string; layer: string; layerBytes: number; unpackedBytes: number; files: number }> {
  const done = join(work, 'ready.json');
  if (existsSync(done)) return JSON.parse(await readFile(done, 'utf8'));
  await rm(work, { recursive: true, force: true });
  const image = join(work, 'image');
  process.stderr.write(`generating a ${MIB} MiB image in ${image} …\n`);
  const { files, bytes } = await generateImage(image, MIB);
  const registry = join(work, 'registry');
  bootos(['key', 'generate', join(work, 'k')]);
  bootos(['root', 'init', '--registry', registry, '--key', join(work, 'k.pub'), '--sign', join(work, 'k.key')]);
  process.stderr.write('publishing …\n');
  const published = JSON.parse(bootos(['publish', image, '--registry', registry, '--json'])) as { layers: { digest: string; size: number }[] };
  bootos(['channel', 'sign', '--registry', registry, '--channel', 'stable', '--profiles', join(work, 'profiles.yaml'), '--sign', join(work, 'k.key'), '--expires', '3650d']);
  const layer = published.layers[0]!;
  const ready = { registry, layer: `blobs/${layer.digest.replace(':', '/')}`, layerBytes: layer.size, unpackedBytes: bytes, files };
  await writeFile(done, JSON.stringify(ready));
  return ready;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e9);
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ready = await prepare();
const server = spawn(process.execPath, [BIN, 'serve', '--registry', ready.registry, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => server.stdout!.once('data', (d) => resolve(String(d).trim())));
const scratch = join(work, 'scratch');
const times = { pull: [] as number[], curlTar: [] as number[], curlNull: [] as number[] };
const rss: number[] = [];
try {
  for (let i = 0; i < RUNS; i++) {
    await rm(scratch, { recursive: true, force: true });
    await mkdir(join(scratch, 'tar'), { recursive: true });
    times.curlNull.push(await run('curl', ['-s', '-o', '/dev/null', `${url}${ready.layer}`]));
    times.curlTar.push(await run('bash', ['-c', `set -o pipefail; curl -s '${url}${ready.layer}' | tar -xz -C '${join(scratch, 'tar')}'`]));
    const rssFile = join(scratch, 'rss');
    times.pull.push(
      await run(process.execPath, ['--import', PROBE, BIN, 'pull', 'bench', '--registry', url, '--root', join(ready.registry, 'root.json'), '--channel', 'stable', '--store', join(scratch, 'store')], {
        ...process.env,
        BOOTOS_BENCH_RSS_FILE: rssFile,
      }),
    );
    rss.push(Number(await readFile(rssFile, 'utf8')));
    process.stderr.write(`run ${i + 1}/${RUNS}: pull ${times.pull.at(-1)!.toFixed(2)} s, curl|tar ${times.curlTar.at(-1)!.toFixed(2)} s, curl ${times.curlNull.at(-1)!.toFixed(2)} s\n`);
  }
} finally {
  server.kill('SIGTERM');
  await rm(scratch, { recursive: true, force: true });
}

const mib = (bytes: number) => bytes / 1024 / 1024;
const row = (name: string, t: number[]) =>
  `| ${name.padEnd(26)} | ${median(t).toFixed(2).padStart(6)} | ${(mib(ready.layerBytes) / median(t)).toFixed(1).padStart(8)} | ${(mib(ready.unpackedBytes) / median(t)).toFixed(1).padStart(8)} | ${(median(times.curlTar) / median(t)).toFixed(2).padStart(5)} |`;
console.log(`image: ${mib(ready.unpackedBytes).toFixed(0)} MiB in ${ready.files} files; layer ${mib(ready.layerBytes).toFixed(1)} MiB gzip; ${RUNS} runs each (median)`);
console.log('| method                     | s      | wire MiB/s | tar MiB/s | ratio |');
console.log('| -------------------------- | ------ | -------- | -------- | ----- |');
console.log(row('bootos pull (cold store)', times.pull));
console.log(row('curl -s URL | tar -xz', times.curlTar));
console.log(row('curl -s -o /dev/null URL', times.curlNull));
console.log(`pull peak RSS: ${mib(Math.max(...rss)).toFixed(1)} MiB (max of ${RUNS}; median ${mib(median(rss)).toFixed(1)} MiB)`);
const ratio = median(times.curlTar) / median(times.pull);
console.log(`targets: ratio ${ratio.toFixed(2)} ${ratio >= 0.9 ? '≥' : '<'} 0.9, peak RSS ${mib(Math.max(...rss)).toFixed(1)} MiB ${mib(Math.max(...rss)) <= 100 ? '≤' : '>'} 100 MiB`);
