// Real applications, bootos and podman side by side
// (`npm run bench:apps [-- --runs 5 --driver overlay|vfs --no-sync --keep]`): the same OCI image (images/python-web:
// Debian's python3, runtime none) published and signed by bootos, pushed to a local docker-registry, and run by each
// on this host. Runs alternate between the two (and which goes first), so that a busy moment of the shared machine
// does not hit one side only. As root.
//   pull + unpack  bootos: `bootos pull python-web --registry oci+http://…` into a cold store
//                  podman: `podman pull --tls-verify=false 127.0.0.1:PORT/apps:python-web-1.0.0` into fresh storage
//   cold start     image cached; bootos: a fresh agent process (dist/agent.mjs), from the first request on the app's
//                  public port to the first 200 of /health; podman: from `podman run -d -p …` to the first 200
//   restart        bootos: POST /api/apps/python-web/stop, wait for `stopped`, then a request (it starts the app);
//                  podman: `podman stop` + `podman start`; both to the first 200 of /health
//   memory         PSS of the app's processes (runc ps / podman top), and the runtime's per-app overhead: for bootos
//                  the agent's PSS increase from 0 to 1 running app plus the `runc run` process that stays the app's
//                  parent; for podman the container's conmon
// Prints every run to stderr and one table to stdout. docs/performance.md ("Real applications") keeps the figures.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { pushRegistry } from '../fetcher/src/publish/push.js';
import { startAgent, type AgentProcess } from '../tests/support/agent-process.js';
import { startDockerRegistry } from '../tests/support/docker-registry.js';
import { IMAGES, makeRegistry, REPO } from '../tests/support/registry.js';
import { childCpuSeconds, median, processMemory, sh, timed } from './measure.js';

const execFileP = promisify(execFile);
const BOOTOS = join(REPO, 'bin', 'bootos.mjs');
const APP = 'python-web';
const NAMESPACE = 'apps';
const HEALTH_TIMEOUT_MS = 60_000;
const SETTLE_MS = 2000;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    driver: { type: 'string', default: 'overlay' },
    'no-sync': { type: 'boolean' },
    keep: { type: 'boolean' },
  },
});
const RUNS = Number(values.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a positive integer');
const DRIVER = values.driver!;
if (!['overlay', 'vfs'].includes(DRIVER)) throw new Error('--driver must be overlay or vfs');

const log = (line: string) => process.stderr.write(`bench:apps: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── cleanup: everything started is undone in reverse order, also on SIGINT/SIGTERM ───────────────────────────────
const cleanups: Array<() => Promise<unknown>> = [];
async function cleanup(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!().catch((err) => log(`cleanup: ${(err as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ── HTTP ──────────────────────────────────────────────────────────────────────────────────────────────────────────
/** One GET on a new connection: its status, or the error. */
function status(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: HEALTH_TIMEOUT_MS }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end();
  });
}

/** GETs /health every 10 ms (each on a new connection) until one answers 200. */
async function untilHealthy(port: number): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  for (;;) {
    const code = await status(port, '/health').catch(() => 0);
    if (code === 200) return;
    if (Date.now() > deadline) throw new Error(`no 200 from 127.0.0.1:${port}/health within ${HEALTH_TIMEOUT_MS} ms`);
    await sleep(10);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (typeof address !== 'object' || !address) throw new Error('no free port');
  return address.port;
}

// ── memory ────────────────────────────────────────────────────────────────────────────────────────────────────────
const mib = (kib: number) => kib / 1024;

/** The PSS of the processes together, and each one's by its command name. */
async function pssOf(pids: number[]): Promise<{ kib: number; byName: Map<string, number> }> {
  let kib = 0;
  const byName = new Map<string, number>();
  for (const pid of pids) {
    const pss = (await processMemory(pid)).pssKiB;
    const name = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    byName.set(name, (byName.get(name) ?? 0) + pss);
    kib += pss;
  }
  return { kib, byName };
}

/** The processes a process started, from /proc/PID/task/TID/children. */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    found.push(...text.split(' ').filter(Boolean).map(Number));
  }
  return found;
}

async function cmdline(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
}

// ── set-up: python-web published, signed, pushed ──────────────────────────────────────────────────────────────────
interface Measured {
  pull: number[];
  pullCpu: number[];
  cold: number[];
  restart: number[];
  appPss: number[];
  overheadPss: number[];
  details: Map<string, number[]>;
}
const fresh = (): Measured => ({ pull: [], pullCpu: [], cold: [], restart: [], appPss: [], overheadPss: [], details: new Map() });
const detail = (m: Measured, name: string, value: number) => m.details.set(name, [...(m.details.get(name) ?? []), value]);

const work = await mkdtemp(join(tmpdir(), 'bootos-bench-apps-'));
cleanups.push(() => (values.keep ? Promise.resolve(log(`kept ${work}`)) : rm(work, { recursive: true, force: true })));
let failed = false;
const bootos = fresh();
const podman = fresh();
try {
  const t0 = Date.now();
  const signed = await makeRegistry({ images: [join(IMAGES, APP)] });
  cleanups.push(() => signed.cleanup());
  const image = signed.images.get(APP)!;
  log(`published and signed ${APP} ${image.version} in ${Date.now() - t0} ms`);
  const registry = await startDockerRegistry();
  cleanups.push(() => registry.stop());
  const url = registry.url(NAMESPACE);
  await pushRegistry(signed.dir, url);
  const tag = `${APP}-${image.version}`;
  const ref = `${registry.host}/${NAMESPACE}:${tag}`;
  const rootFile = join(work, 'root.json');
  await writeFile(rootFile, signed.rootBytes);
  log(`pushed to ${url} (tag ${tag}); ${RUNS} run(s) per side, podman storage driver ${DRIVER}`);

  const bootosPull = (store: string) => sh(process.execPath, [BOOTOS, 'pull', APP, '--registry', url, '--root', rootFile, '--channel', 'stable', '--store', store, '--arch', 'x86_64']);

  // podman with storage of its own (never the host's /var/lib/containers); podman takes a runroot of ≤ 50 characters.
  const podmanArgs = (dir: string) => ['--root', join(dir, 'root'), '--runroot', join(dir, 'rr'), '--storage-driver', DRIVER];
  const pod = (dir: string, ...args: string[]) => sh('podman', [...podmanArgs(dir), ...args]);
  /** Removes a podman storage: its containers and images, whatever is still mounted under it, the folder. */
  const dropPodman = async (dir: string) => {
    await pod(dir, 'rm', '--force', '--all').catch(() => {});
    await pod(dir, 'rmi', '--force', '--all').catch(() => {});
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts.sort().reverse()) await execFileP('umount', ['-l', m]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };

  // ── 1. pull + unpack ──────────────────────────────────────────────────────────────────────────────────────────
  const pulls: Array<[Measured, (i: number) => Promise<void>]> = [
    [bootos, (i) => bootosPull(join(work, `boot-${i}`)).then(() => {})],
    [podman, (i) => pod(join(work, `pod-${i}`), 'pull', '--quiet', '--tls-verify=false', ref).then(() => {})],
  ];
  for (let i = 0; i < RUNS; i++) {
    for (const [side, pull] of i % 2 ? [...pulls].reverse() : pulls) {
      // bootos fsyncs what it commits; on ext4 that waits for other dirty data too. Flushed first (untimed), so that
      // neither side pays for the writeback of the other's last run.
      if (!values['no-sync']) await sh('sync', []);
      const cpuBefore = await childCpuSeconds();
      const seconds = await timed(() => pull(i));
      const cpu = (await childCpuSeconds()) - cpuBefore;
      side.pull.push(seconds);
      side.pullCpu.push(cpu);
      log(`pull ${i + 1}: ${side === bootos ? 'bootos' : 'podman'} ${seconds.toFixed(2)} s (${cpu.toFixed(2)} s CPU)`);
    }
    await rm(join(work, `boot-${i}`), { recursive: true, force: true });
    await dropPodman(join(work, `pod-${i}`));
  }

  // ── 2–4. cold start, restart, memory: image cached on both sides ─────────────────────────────────────────────
  const agentBase = join(work, 'agent');
  await bootosPull(join(agentBase, 'var', 'store'));
  const podmanDir = join(work, 'pod');
  cleanups.push(() => dropPodman(podmanDir));
  await pod(podmanDir, 'pull', '--quiet', '--tls-verify=false', ref);

  const bootosRun = async (i: number) => {
    const agent: AgentProcess = await startAgent({ registry: url, rootBytes: signed.rootBytes, base: agentBase });
    const stopAgent = async () => {
      const leftovers = await agent.stop();
      if (leftovers.length) throw new Error(`the agent left containers behind: ${leftovers.join(', ')}`);
    };
    cleanups.push(stopAgent);
    const appState = async () => ((await agent.api('/api/apps')).apps as Array<{ name: string; state: string; port: number }>).find((a) => a.name === APP);
    let app = await appState();
    for (const deadline = Date.now() + 30_000; app?.state !== 'cached'; app = await appState()) {
      if (Date.now() > deadline) throw new Error(`${APP} is ${app?.state ?? 'not listed'}, not cached, 30 s after the agent's start:\n${agent.log()}`);
      await sleep(50);
    }
    const agentPid = agent.process.pid!;
    await sleep(SETTLE_MS);
    const agentIdle = await processMemory(agentPid);

    const cold = await timed(() => untilHealthy(app!.port));
    await sleep(SETTLE_MS);
    const runcRoot = join(agentBase, 'run', 'runc');
    const containers = JSON.parse((await sh('runc', ['--root', runcRoot, 'list', '--format', 'json'])).trim() || '[]') as Array<{ id: string; status: string }>;
    const running = containers.filter((c) => c.status === 'running');
    if (running.length !== 1) throw new Error(`expected one running container, runc lists ${JSON.stringify(containers)}`);
    const appPids = JSON.parse(await sh('runc', ['--root', runcRoot, 'ps', '--format', 'json', running[0]!.id])) as number[];
    const runcRun: number[] = [];
    for (const pid of await childrenOf(agentPid)) {
      const argv = await cmdline(pid);
      if (argv[0]?.endsWith('runc') && argv.includes('run')) runcRun.push(pid);
    }
    if (runcRun.length !== 1) throw new Error(`expected one \`runc run\` child of the agent, found ${runcRun.length}`);
    const appMemory = await pssOf(appPids);
    const appKiB = appMemory.kib;
    const runcMemory = await processMemory(runcRun[0]!);
    const runcKiB = runcMemory.pssKiB;
    const agentBusy = await processMemory(agentPid);
    const agentDelta = agentBusy.pssKiB - agentIdle.pssKiB;

    const restart = await timed(async () => {
      const res = await fetch(new URL(`/api/apps/${APP}/stop`, agent.url), { method: 'POST' });
      if (res.status !== 202) throw new Error(`stop: HTTP ${res.status} ${await res.text()}`);
      while ((await appState())?.state !== 'stopped') await sleep(10);
      await untilHealthy(app!.port);
    });
    cleanups.pop();
    await stopAgent();

    bootos.cold.push(cold);
    bootos.restart.push(restart);
    bootos.appPss.push(appKiB);
    bootos.overheadPss.push(agentDelta + runcKiB);
    detail(bootos, 'agent PSS, 0 apps running', agentIdle.pssKiB);
    detail(bootos, 'agent PSS increase, 0 → 1 app', agentDelta);
    detail(bootos, 'agent Pss_Anon increase, 0 → 1 app', agentBusy.pssAnonKiB - agentIdle.pssAnonKiB);
    detail(bootos, '`runc run` (the app\'s parent) PSS', runcKiB);
    detail(bootos, '`runc run` Pss_Anon', runcMemory.pssAnonKiB);
    detail(bootos, '`runc run` RSS', runcMemory.rssKiB);
    detail(bootos, 'app processes', appPids.length);
    for (const [name, kib] of appMemory.byName) detail(bootos, `app process ${name} PSS`, kib);
    log(
      `run ${i + 1}: bootos cold ${cold.toFixed(3)} s, restart ${restart.toFixed(3)} s; app ${appPids.length} processes ` +
        `${mib(appKiB).toFixed(1)} MiB; agent ${mib(agentIdle.pssKiB).toFixed(1)} → ${mib(agentBusy.pssKiB).toFixed(1)} MiB, ` +
        `runc run ${mib(runcKiB).toFixed(1)} MiB`,
    );
  };

  const podmanRun = async (i: number) => {
    const name = `bootos-bench-apps-${process.pid}-${i}`;
    const port = await freePort();
    const remove = () => pod(podmanDir, 'rm', '--force', name);
    cleanups.push(remove);
    const cold = await timed(async () => {
      await pod(podmanDir, 'run', '--detach', '--name', name, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
        '--tmpfs', '/tmp', '--tmpfs', '/data', '--publish', `127.0.0.1:${port}:8080`, ref);
      await untilHealthy(port);
    });
    await sleep(SETTLE_MS);
    const appPids = (await pod(podmanDir, 'top', name, 'hpid')).trim().split('\n').slice(1).map(Number);
    const conmonPid = Number((await pod(podmanDir, 'inspect', '--format', '{{.State.ConmonPid}}', name)).trim());
    const appMemory = await pssOf(appPids);
    const appKiB = appMemory.kib;
    const conmon = await processMemory(conmonPid);
    const restart = await timed(async () => {
      await pod(podmanDir, 'stop', name);
      await pod(podmanDir, 'start', name);
      await untilHealthy(port);
    });
    cleanups.pop();
    await remove();

    podman.cold.push(cold);
    podman.restart.push(restart);
    podman.appPss.push(appKiB);
    podman.overheadPss.push(conmon.pssKiB);
    detail(podman, 'conmon PSS', conmon.pssKiB);
    detail(podman, 'conmon Pss_Anon', conmon.pssAnonKiB);
    detail(podman, 'conmon RSS', conmon.rssKiB);
    detail(podman, 'app processes', appPids.length);
    for (const [name, kib] of appMemory.byName) detail(podman, `app process ${name} PSS`, kib);
    log(
      `run ${i + 1}: podman cold ${cold.toFixed(3)} s, restart ${restart.toFixed(3)} s; app ${appPids.length} processes ` +
        `${mib(appKiB).toFixed(1)} MiB; conmon ${mib(conmon.pssKiB).toFixed(2)} MiB`,
    );
  };

  const starts: Array<(i: number) => Promise<void>> = [bootosRun, podmanRun];
  for (let i = 0; i < RUNS; i++) for (const run of i % 2 ? [...starts].reverse() : starts) await run(i);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await cleanup();
}

// ── the table ────────────────────────────────────────────────────────────────────────────────────────────────
if (!failed) {
  const spread = (xs: number[], digits: number, scale = 1) =>
    `${(median(xs) * scale).toFixed(digits)} (${(Math.min(...xs) * scale).toFixed(digits)}–${(Math.max(...xs) * scale).toFixed(digits)})`;
  const rows: Array<[string, number[], number[], number, string | null]> = [
    ['pull + unpack, cold store (s)', bootos.pull, podman.pull, 2, 'bootos ≤ podman'],
    ['pull + unpack, CPU user+sys (s)', bootos.pullCpu, podman.pullCpu, 2, null],
    ['cold start to first answer, image cached (s)', bootos.cold, podman.cold, 3, 'bootos ≤ podman'],
    ['restart: stop + start to first answer (s)', bootos.restart, podman.restart, 3, null],
    ['app processes PSS (MiB)', bootos.appPss, podman.appPss, 1, null],
    ['per-app runtime overhead PSS (MiB): bootos agent increase + `runc run`; podman conmon', bootos.overheadPss, podman.overheadPss, 2, 'bootos ≤ podman'],
  ];
  console.log(`\n${APP} ${RUNS} run(s) per side, alternating; median (min–max); podman storage driver ${DRIVER}\n`);
  console.log('| metric | bootos | podman | ratio bootos/podman | target met? |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [metric, b, p, digits, target] of rows) {
    const kib = metric.includes('MiB');
    const scale = kib ? 1 / 1024 : 1;
    const met = target === null ? '—' : median(b) <= median(p) ? `**met** (${target})` : `**missed** (${target})`;
    console.log(`| ${metric} | ${spread(b, digits, scale)} | ${spread(p, digits, scale)} | ${(median(b) / median(p)).toFixed(2)} | ${met} |`);
  }
  console.log('\nparts (median (min–max); memory in MiB):');
  for (const [side, m] of [['bootos', bootos], ['podman', podman]] as const) {
    for (const [name, xs] of m.details) {
      const count = name === 'app processes';
      console.log(`  ${side}: ${name}: ${spread(xs, count ? 0 : 2, count ? 1 : 1 / 1024)}`);
    }
  }
}
process.exitCode = failed ? 1 : 0;
