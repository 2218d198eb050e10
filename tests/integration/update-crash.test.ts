// Crash safety of hot updates: the agent (the built bundle, as the device runs it) is killed with SIGKILL at a
// random moment of an update, six times in a row, and started again each time. Every time, before anything runs,
// /data on disk is either the old data (the kill came before the switch: `a` and `b` as the old version left them)
// or the new version's (after the switch: its `a`), never a mix, and the seed written at the start is intact; then
// exactly one version serves (one container in runc's list). Each new version writes `a` at once and `b` 1.2 s after
// it started listening, so a kill during an update often finds /data half-migrated by a version that never served:
// only the journal and the snapshot put it back.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startServer } from '../../fetcher/src/publish/serve.js';
import { SLOTS_DIR, slotNames } from '../../bootos/src/agent/runtime/network.js';
import { Runc } from '../../bootos/src/agent/runtime/runc.js';
import { until } from '../support/agent.js';
import { makeRegistry, REPO, tempDir } from '../support/registry.js';
import { updImage } from '../support/update.js';

const execFileP = promisify(execFile);
const ROUNDS = 6;

/** A small seeded generator: the kill points are random but the same on every run (printed with each round). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Running {
  child: ChildProcess;
  api: string;
  stderr: () => string;
}

async function startAgent(configFile: string): Promise<Running> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'bootos.mjs'), 'agent', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const line = await until(() => /bootos-agent: ready api=(\S+)/.exec(stdout), 20_000);
  const api = line![1]!;
  // The app is listed once the channel is verified and its interrupted update (if any) recovered.
  await until(async () => ((await (await fetch(`${api}api/apps`)).json()).apps.length > 0 ? true : null), 20_000);
  return { child, api, stderr: () => stderr };
}

async function readData(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.endsWith('.tmp')) continue;
    out[name] = await readFile(join(dir, name), 'utf8');
  }
  return out;
}

function get(port: number, path = '/'): Promise<any> {
  return fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } }).then((r) => r.json());
}

test('SIGKILL at random points of updates: every restart has one serving version and old-or-new /data', async (t) => {
  const publicPort = 18394;
  const image = (v: string) => updImage(v, { publicPort, slowMigrationMs: 1200 });
  const dirs = [await image('1.0.0')];
  const registry = await makeRegistry({ images: dirs });
  const server = await startServer({ dir: registry.dir, log: () => {} });
  const base = await tempDir('bootos-update-kill-');
  await writeFile(join(base, 'root.json'), registry.rootBytes);
  const configFile = join(base, 'agent.json');
  await writeFile(
    configFile,
    JSON.stringify({
      registry: server.url, root: 'root.json', dataRoot: 'var', runDir: 'run', apiHost: '127.0.0.1', apiPort: 0, appHost: '127.0.0.1',
      limits: { channelPollIntervalMs: 200, channelPollJitterMs: 50, updateGraceMs: 500, stopGraceMs: 1000, updateDrainTimeoutMs: 1000 },
    }),
  );
  const dataDir = join(base, 'var', 'data', 'upd');
  const runc = new Runc('runc', join(base, 'run', 'runc'));
  const pids: number[] = [];
  const rand = random(0x5eed);
  let agent = await startAgent(configFile);
  pids.push(agent.child.pid!);
  try {
    t.is((await get(publicPort)).version, '1.0.0');
    await fetch(`http://127.0.0.1:${publicPort}/seed?value=precious`, { headers: { connection: 'close' } }).then((r) => r.text());
    for (let round = 1; round <= ROUNDS; round++) {
      // Before the update: the running version has finished migrating; this is "the old data".
      const old = (await until(async () => {
        const files = await readData(dataDir);
        return files.a && files.a === files.b ? files : null;
      }, 10_000))!;
      const next = `${round + 1}.0.0`;
      const dir = await image(next);
      dirs.push(dir);
      await registry.publish(dir);
      await registry.sign();
      const delay = Math.round(50 + rand() * 1050);
      await new Promise((r) => setTimeout(r, delay));
      agent.child.kill('SIGKILL');
      await new Promise((r) => agent.child.once('exit', r));
      const journal = await readFile(join(base, 'var', 'state', 'updates', 'upd.journal.json'), 'utf8').then(JSON.parse, () => null);
      const lastStep = agent.stderr().trim().split('\n').filter((l) => l.includes('upd: update:')).pop() ?? '(no update step yet)';
      t.log(`round ${round}: killed ${delay} ms after signing ${next}; journal ${journal?.step ?? 'none'}; last step: ${lastStep.replace(/^.*update: /, '')}`);

      agent = await startAgent(configFile);
      pids.push(agent.child.pid!);
      // Recovered, nothing started yet: /data is the old data or the new version's, and the seed is intact.
      const files = await readData(dataDir);
      t.is(files.keep, 'precious', `round ${round}: the seed is intact`);
      const switched = journal && (journal.step === 'switched' || journal.step === 'committed');
      if (journal && !switched) {
        t.is(files.a, old.a, `round ${round}: killed before the switch: /data is the old data`);
        t.is(files.b, old.b, `round ${round}: killed before the switch: /data is the old data`);
      } else if (switched) {
        t.is(files.a, next, `round ${round}: killed after the switch: /data is the new version's`);
      } else {
        t.true(files.a === old.a || files.a === next, `round ${round}: no update under way: one version's data`);
      }
      t.deepEqual(await readdir(join(base, 'var', 'data', '.snapshots')).catch(() => []), [], `round ${round}: no snapshot left`);
      t.deepEqual((await runc.list()).filter((c) => c.status !== 'stopped'), [], `round ${round}: the killed agent's containers are gone`);

      // Exactly one version serves.
      const answer = await get(publicPort);
      t.true([old.a, next].includes(answer.version), `round ${round}: ${answer.version} serves`);
      const live = (await runc.list()).filter((c) => c.status === 'running');
      t.is(live.length, 1, `round ${round}: one container runs (${live.map((c) => c.id).join(', ')})`);
      const apps = await (await fetch(`${agent.api}api/apps`)).json();
      t.is(apps.apps[0].update.runningVersion, answer.version);
    }
    // A clean stop at the end leaves nothing running.
    agent.child.kill('SIGTERM');
    await new Promise((r) => agent.child.once('exit', r));
    t.deepEqual((await runc.list()).filter((c) => c.status !== 'stopped'), []);
  } finally {
    if (agent.child.exitCode === null) {
      agent.child.kill('SIGKILL');
      await new Promise((r) => agent.child.once('exit', r));
    }
    for (const c of await runc.list().catch(() => [])) await runc.delete(c.id).catch(() => {});
    // The network slots of the killed agents (a later agent would reclaim them; the test cleans up after itself).
    for (const slot of await readdir(SLOTS_DIR).catch(() => [] as string[])) {
      const pid = Number((await readFile(join(SLOTS_DIR, slot, 'pid'), 'utf8').catch(() => '')).trim().split(' ')[0]); // "pid starttime"
      if (!pids.includes(pid)) continue;
      const { netns, hostIf } = slotNames(Number(slot));
      await execFileP('ip', ['netns', 'del', netns]).catch(() => {});
      await execFileP('ip', ['link', 'del', hostIf]).catch(() => {});
      await rm(join(SLOTS_DIR, slot), { recursive: true, force: true });
    }
    await server.close();
    await registry.cleanup();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    await rm(base, { recursive: true, force: true });
  }
});
