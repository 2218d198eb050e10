// Peer benchmark (`npm run bench:peers [-- --mib 256 --runs 3]`): the same mixed-file image in the same local
// docker-registry, pulled and unpacked by
//   bootos      `bootos pull oci+http://… IMAGE` (verify channel, stream: fetch → sha256 → gunzip → untar)
//   containerd  `ctr image pull --plain-http` (fetch into the content store, then unpack into an overlayfs snapshot)
//               against a containerd started here with its own root, state and socket, fresh for every run
//   skopeo      `skopeo copy docker://… oci:DIR` then `tar -xzf` of the layer
// and against the limit: `curl -s …/blobs/<layer> | tar -xz` (one stream, nothing verified, nothing stored).
// Prints each run, the median, and the ratio to the limit. The machine is shared: read medians, not single runs.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon, type Daemon } from '../tests/support/daemon.js';
import { startDockerRegistry } from '../tests/support/docker-registry.js';
import { prepareBenchRegistry } from './bench-registry.js';
import { childCpuSeconds, median, sh, timed } from './measure.js';

const REPO = new URL('..', import.meta.url).pathname;
const BOOTOS = join(REPO, 'bin', 'bootos.mjs');

const { values } = parseArgs({
  options: { mib: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' }, skip: { type: 'string', multiple: true }, keep: { type: 'boolean' } },
});
const MIB = Number(values.mib);
const RUNS = Number(values.runs);
if (!(MIB > 0) || !(RUNS > 0)) throw new Error('--mib and --runs must be positive numbers');

const log = (line: string) => process.stderr.write(`bench:peers: ${line}\n`);

async function startContainerd(dir: string): Promise<{ socket: string; daemon: Daemon }> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const socket = join(dir, 'containerd.sock');
  const config = [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",',
    '  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing",',
    '  "io.containerd.tracing.processor.v1.otlp"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n');
  await writeFile(join(dir, 'config.toml'), config);
  const daemon = await startDaemon('containerd', ['--config', join(dir, 'config.toml')], { ready: (out) => out.includes('containerd successfully booted') });
  return { socket, daemon };
}

const work = await mkdtemp(join(tmpdir(), 'bootos-bench-peers-'));
const registry = await startDockerRegistry();
let failed = false;
try {
  const url = registry.url('bench');
  const bench = await prepareBenchRegistry(work, MIB, url, log);
  const imageRef = bench.tag;
  const layerUrl = `http://${registry.host}/v2/bench/blobs/${bench.layer.digest}`;
  log(`registry ${url}: ${imageRef} (${bench.files} files); ${RUNS} run(s) per tool`);

  const fresh = async (name: string) => {
    const dir = join(work, 'runs', name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  };

  const tools: { name: string; run: (i: number) => Promise<number> }[] = [
    {
      name: 'curl | tar -xz (limit)',
      run: async (i) => {
        const dir = await fresh(`curl-${i}`);
        return timed(() => sh('sh', ['-c', `curl -sf '${layerUrl}' | tar -xz -C '${dir}'`]));
      },
    },
    {
      name: 'bootos pull',
      run: async (i) => {
        const dir = await fresh(`bootos-${i}`);
        return timed(() => sh(process.execPath, [BOOTOS, 'pull', bench.image.name, '--registry', url, '--root', bench.rootFile, '--channel', 'stable', '--store', dir, '--arch', 'x86_64']));
      },
    },
    {
      name: 'containerd (ctr pull + unpack)',
      run: async (i) => {
        const dir = await fresh(`containerd-${i}`);
        const { socket, daemon } = await startContainerd(join(dir, 'containerd'));
        try {
          return await timed(() => sh('ctr', ['-a', socket, '-n', 'bench', 'image', 'pull', '--plain-http', `${registry.host}/bench:${bench.tag}`]));
        } finally {
          await daemon.stop();
          // Snapshots are overlay directories; nothing is mounted after the pull.
          await rm(dir, { recursive: true, force: true });
        }
      },
    },
    {
      name: 'skopeo copy + tar -xzf',
      run: async (i) => {
        const dir = await fresh(`skopeo-${i}`);
        return timed(async () => {
          await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/bench:${bench.tag}`, `oci:${join(dir, 'layout')}:img`]);
          await mkdir(join(dir, 'rootfs'));
          const blobs = join(dir, 'layout', 'blobs', 'sha256');
          const layer = bench.layer.digest.slice('sha256:'.length);
          if (!(await readdir(blobs)).includes(layer)) throw new Error('skopeo did not store the layer');
          await sh('tar', ['-xzf', join(blobs, layer), '-C', join(dir, 'rootfs')]);
        });
      },
    },
  ];

  // --skip bootos|containerd|skopeo leaves a tool out (the limit always runs).
  const skip = new Set(values.skip ?? []);
  for (let i = tools.length - 1; i > 0; i--) if (skip.has(tools[i]!.name.split(' ')[0]!)) tools.splice(i, 1);
  const results = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  // Interleave tools run by run, so that a slow moment of the shared machine does not hit one tool only.
  for (let i = 0; i < RUNS; i++) {
    for (const tool of tools) {
      const cpuBefore = await childCpuSeconds();
      const seconds = await tool.run(i);
      const cpuSeconds = (await childCpuSeconds()) - cpuBefore;
      results.set(tool.name, [...(results.get(tool.name) ?? []), seconds]);
      cpu.set(tool.name, [...(cpu.get(tool.name) ?? []), cpuSeconds]);
      log(`run ${i + 1}: ${tool.name}: ${seconds.toFixed(2)} s, ${cpuSeconds.toFixed(2)} s CPU`);
      await rm(join(work, 'runs'), { recursive: true, force: true });
    }
  }

  const limit = median(results.get(tools[0]!.name)!);
  const rows = tools.map((t) => {
    const runs = results.get(t.name)!;
    const m = median(runs);
    return { tool: t.name, runs: runs.map((s) => s.toFixed(2)).join(' '), median: m, ratio: m / limit, cpu: median(cpu.get(t.name)!) };
  });
  const mibs = (bench.layer.size / 2 ** 20).toFixed(1);
  console.log(`\nimage: ${MIB} MiB of mixed files (${bench.files} files), layer ${mibs} MiB gzip; median of ${RUNS} run(s)\n`);
  console.log(`| tool | runs (s) | median (s) | × limit | CPU user+sys (s, median) |`);
  console.log(`| --- | --- | --- | --- | --- |`);
  for (const r of rows) console.log(`| ${r.tool.replace('|', '\\|')} | ${r.runs} | ${r.median.toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.cpu.toFixed(2)} |`);
  const bootos = rows.find((r) => r.tool === 'bootos pull');
  const peers = rows.filter((r) => r.tool !== 'bootos pull' && r !== rows[0]);
  if (bootos && peers.length) {
    const fastest = peers.reduce((a, b) => (a.median <= b.median ? a : b));
    console.log(`\nbootos / fastest peer (${fastest.tool}): ${(bootos.median / fastest.median).toFixed(2)} (target ≤ 1.00)`);
  }
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await registry.stop();
  if (!values.keep) await rm(work, { recursive: true, force: true });
  else log(`kept ${work}`);
}
process.exitCode = failed ? 1 : 0;
