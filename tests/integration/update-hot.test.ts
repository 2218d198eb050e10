// Hot updates of a running app, as root with the real runc and a real registry server, under a steady load of
// 200 requests a second on loopback (a new connection each):
//  - a good new version (hand-over `signal`): zero failed requests, every request sent after the switch answered by
//    the new version, /data kept (the old version flushed on SIGUSR1 and acknowledged), steps on /api/events;
//  - a broken one (health check fails) and a crashing one (exits after its 20th answer, just after the switch): the old version keeps
//    serving, its /data is unchanged (restored: the new version had touched it), the failure is reported with its
//    reason and remembered on disk, and the same digest offered again is not retried;
//  - a later good version is tried normally.
import test from 'ava';
import { readFile, rm } from 'node:fs/promises';
import { Agent as HttpAgent, request } from 'node:http';
import { join } from 'node:path';
import { agentEnv, json, until, type AgentEnv } from '../support/agent.js';
import { steadyLoad, switchStory, updImage } from '../support/update.js';

let env: AgentEnv;
const dirs: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function image(version: string, mode: 'good' | 'broken' | 'crasher' = 'good'): Promise<string> {
  const dir = await updImage(version, { mode });
  dirs.push(dir);
  return dir;
}

test.before(async () => {
  env = await agentEnv({
    images: [await image('1.0.0')],
    limits: { channelPollIntervalMs: 0, updateGraceMs: 1500, updateDrainTimeoutMs: 3000, updateStartTimeoutMs: 2500 },
  });
});

test.after.always(async (t) => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  if (!env) return;
  const { leftovers } = await env.teardown();
  t.deepEqual(leftovers, [], 'the agent left containers, bundles or networks behind');
});

const app = () => env.agent.apps.get('upd')!;
const port = () => app().publicPorts.get('http')!;
const apiApp = async () => (await json(await env.api('/api/apps'))).apps.find((a: { name: string }) => a.name === 'upd');

/** GET / on a keep-alive agent; `onSocket` counts the connections it opened. */
function keepAliveGet(agent: HttpAgent, port: number, onSocket: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body).version) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('socket', (socket) => {
      if (!(socket as { counted?: boolean }).counted) {
        (socket as { counted?: boolean }).counted = true;
        onSocket();
      }
    });
    req.on('error', reject);
    req.end();
  });
}

/** Publishes `dir`, signs the channel, and lets the agent see it while the load runs (bounded: 30 s at most). */
async function updateUnderLoad(dir: string) {
  const load = steadyLoad(port(), { ratePerSecond: 200, maxRequests: 6000 });
  await sleep(300);
  await env.registry.publish(dir);
  await env.registry.sign();
  const t0 = performance.now();
  await env.agent.checkChannel();
  const settledAt = performance.now() - load.t0;
  if (env.agent.channelStatus.error) console.error(`channel check (${performance.now() - t0} ms): ${JSON.stringify(env.agent.channelStatus)}`);
  await sleep(400);
  const answers = await load.stop();
  return { answers, settledAt, t0: load.t0 };
}

test.serial('a running app is updated under load with zero failed requests; /data is kept', async (t) => {
  t.is((await env.get('upd', '/seed?value=precious')).status, 200);
  for (let i = 1; i <= 3; i++) t.is((await json(await env.get('upd', '/count'))).count, i);
  t.is((await apiApp()).update.runningVersion, '1.0.0');

  const controller = new AbortController();
  const events = await env.api('/api/events', { signal: controller.signal });
  let sse = '';
  const reader = events.body!.getReader();
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      sse += Buffer.from(value).toString();
    }
  })().catch(() => {});

  const { answers } = await updateUnderLoad(await image('2.0.0'));
  const story = switchStory(answers, '1.0.0', '2.0.0');
  t.log(`${answers.length} requests; last answer from 1.0.0 at ${story.lastOld?.toFixed(1)} ms, first from 2.0.0 at ${story.firstNew?.toFixed(1)} ms`);
  t.true(answers.length >= 300, `a steady load ran through the update (${answers.length} requests)`);
  t.deepEqual(story.failed, [], 'no request failed');
  t.deepEqual(story.versions.sort(), ['1.0.0', '2.0.0']);
  t.true(story.afterSwitch.length >= 50, 'requests were sent after the switch');
  t.deepEqual(story.strays, [], 'every request sent after the switch was answered by the new version');

  const upd = await apiApp();
  t.is(upd.version, '2.0.0');
  t.is(upd.state, 'running');
  t.is(upd.update.state, 'done');
  t.is(upd.update.runningVersion, '2.0.0');
  t.is(app().containerIds().length, 1, 'the old version is gone');
  t.deepEqual(env.agent.updaters.get('upd')!.history.slice(-5), ['downloading', 'preparing', 'starting', 'switching', 'done']);

  // The data: the count goes on, the seed is there, the old version flushed on SIGUSR1, the new one migrated.
  t.deepEqual(await json(await env.get('upd', '/count')), { version: '2.0.0', count: 4 });
  const { files } = await json(await env.get('upd', '/data'));
  t.is(files.keep, 'precious');
  t.is(files.flushed, '1.0.0', 'the old version flushed its data on SIGUSR1');
  t.is(files.a, '2.0.0');
  t.is(files.b, '2.0.0');
  const logs = (await json(await env.api('/api/apps/upd/logs'))).lines as string[];
  t.true(logs.includes('bootos: handover-ready'));
  await until(() => sse.includes('acknowledged the hand-over') && sse.includes('done: 2.0.0 serves'));
  t.regex(sse, /event: step\ndata: \{"seq":\d+,"at":"[^"]+","app":"upd","message":"update: 1\.0\.0 → 2\.0\.0: preparing \(hand-over signal\)"\}/);
  t.regex(sse, /"update":\{"state":"switching","pendingVersion":"2\.0\.0"/);
  controller.abort();
  await reading;
  // No snapshot or journal is left behind.
  await t.throwsAsync(readFile(join(env.agent.config.stateDir, 'updates', 'upd.journal.json')));
  await t.throwsAsync(readFile(join(env.agent.config.dataRoot, '.snapshots', 'upd', 'keep')));
});

/** The app's files as it sees them, without `flushed` (which the old version rewrites on SIGUSR1, as it should). */
async function appFiles(): Promise<Record<string, string>> {
  const { files } = await json(await env.get('upd', '/data'));
  delete files.flushed;
  return files;
}

test.serial('a broken new version (health check fails): the old one keeps serving, /data unchanged, not retried', async (t) => {
  const before = await appFiles();
  const startsBefore = app().starts;
  const { answers } = await updateUnderLoad(await image('3.0.0', 'broken'));
  const story = switchStory(answers, '2.0.0', '3.0.0');
  t.deepEqual(story.failed, [], 'no request failed');
  t.deepEqual(story.versions, ['2.0.0'], 'only the old version answered');
  const upd = await apiApp();
  t.is(upd.update.state, 'failed');
  t.is(upd.update.error.code, 'APP_START_FAILED');
  t.is(upd.update.error.version, '3.0.0');
  t.is(upd.update.runningVersion, '2.0.0');
  t.is(upd.version, '2.0.0');
  t.deepEqual(await appFiles(), before, '/data is what it was before the update (the broken version had written to it)');
  t.is((await appFiles()).a, '2.0.0');
  t.is(app().containerIds().length, 1);
  t.is(app().starts, startsBefore, 'the old version was never restarted');
  const logs = (await json(await env.api('/api/apps/upd/logs'))).lines as string[];
  t.true(logs.includes('upd 2.0.0: hand-over cancelled, carrying on'), 'the old version was told (SIGUSR2) that the hand-over is off');
  const record = JSON.parse(await readFile(join(env.agent.config.stateDir, 'updates', 'upd.json'), 'utf8'));
  const digest = env.registry.images.get('upd')!.digest;
  t.is(record.failed[digest].code, 'APP_START_FAILED', 'the failed digest is remembered on disk');

  // The channel is signed again (a new channel version, the same image): not tried again.
  const history = env.agent.updaters.get('upd')!.history.length;
  await env.registry.sign();
  await env.agent.checkChannel();
  const again = await apiApp();
  t.is(again.update.state, 'failed');
  t.is(again.update.error.code, 'UPDATE_SKIPPED');
  t.is(env.agent.updaters.get('upd')!.history.length, history + 1, 'only the report changed: no download, no start');
  t.is((await json(await env.get('upd'))).version, '2.0.0');
});

test.serial('a new version that crashes just after the switch: rolled back, the old one serves again, /data unchanged', async (t) => {
  const before = await appFiles();
  const stepLog: [number, string][] = [];
  const unsubscribe = env.agent.onStep((_app, message) => stepLog.push([performance.now(), message]));
  const { answers, settledAt, t0 } = await updateUnderLoad(await image('4.0.0', 'crasher'));
  unsubscribe();
  const story = switchStory(answers, '2.0.0', '4.0.0');
  t.true(story.firstNew !== null, 'the crashing version passed its health check and served for a while');
  t.log(`${story.failed.length} of ${answers.length} requests failed (in flight to 4.0.0 when it exited)`);
  const afterRollback = answers.filter((a) => a.start > settledAt);
  t.true(afterRollback.length > 20);
  const offenders = afterRollback.filter((a) => a.version !== '2.0.0' || a.error !== null);
  if (offenders.length) t.log(`settled at ${settledAt.toFixed(1)} ms; offenders: ${JSON.stringify(offenders.slice(0, 5))}; steps: ${stepLog.map(([at, m]) => `${(at - t0).toFixed(0)} ${m}`).join(' | ')}`);
  t.deepEqual(offenders, [], 'after the rollback the old version answers everything');
  const upd = await apiApp();
  t.is(upd.update.state, 'failed');
  t.is(upd.update.error.code, 'APP_CRASHED');
  t.is(upd.update.error.version, '4.0.0');
  t.is(upd.update.runningVersion, '2.0.0');
  t.deepEqual(await appFiles(), before, '/data restored from the snapshot (the crashing version had written to it)');
  const steps = env.agent.updaters.get('upd')!.history.slice(-6);
  t.deepEqual(steps, ['downloading', 'preparing', 'starting', 'switching', 'rolling-back', 'failed']);
  t.is(app().containerIds().length, 1);
  t.is(app().state, 'running');
});

test.serial('a later version is tried normally after failed ones; keep-alive clients move to it too', async (t) => {
  // A keep-alive client (one connection, a request every 400 ms): its idle connection to the old version is closed
  // while the old one drains, so its next request opens a connection to the new version; nothing fails. (Closing an
  // idle connection races with a request the client sends at that instant, as with any server's keep-alive timeout:
  // browsers retry such requests, Node's http.Agent does not; the think time keeps the test clear of that race.)
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const keptAlive: { version: string | null; error: string | null; sockets: number }[] = [];
  let sockets = 0;
  let running = true;
  const steps: string[] = [];
  const unsubscribe = env.agent.onStep((_app, message) => steps.push(message));
  const client = (async () => {
    while (running) {
      keptAlive.push(await keepAliveGet(agent, port(), () => sockets++).then((version) => ({ version, error: null, sockets }), (err) => ({ version: null, error: String(err), sockets })));
      await sleep(400);
    }
  })();
  const { answers } = await updateUnderLoad(await image('5.0.0'));
  running = false;
  await client;
  agent.destroy();
  unsubscribe();
  const drain = steps.find((m) => m.startsWith('update: 2.0.0 ') && m.includes('stopped in'));
  t.regex(drain ?? '', /^update: 2\.0\.0 drained in \d+ ms/, 'the idle keep-alive connection did not hold the old version until the drain timeout');
  const story = switchStory(answers, '2.0.0', '5.0.0');
  t.deepEqual(story.failed, []);
  t.deepEqual(story.strays, []);
  t.deepEqual(keptAlive.filter((a) => a.error), [], 'the keep-alive client saw no error');
  t.is(keptAlive.at(-1)!.version, '5.0.0', 'and ends on the new version');
  t.true(keptAlive.some((a) => a.version === '2.0.0'));
  t.true(keptAlive.at(-1)!.sockets >= 2, 'on a new connection');
  const upd = await apiApp();
  t.is(upd.update.state, 'done');
  t.is(upd.update.runningVersion, '5.0.0');
  t.is((await json(await env.get('upd', '/count'))).count, 5, 'the data of every good version carried over');
});

test.serial('no space for the /data snapshot: refused before the old version is touched, tried again later', async (t) => {
  // The data root's free space is what statfs says; a reserve larger than any disk makes it too small.
  const limits = env.agent.config.limits;
  const reserve = limits.snapshotReserveBytes;
  limits.snapshotReserveBytes = 2 ** 50;
  const flushed = (await json(await env.get('upd', '/data'))).files.flushed;
  t.is(flushed, '2.0.0', 'the last hand-over signal went to 2.0.0 (updating to 5.0.0)');
  let upd;
  try {
    const { answers } = await updateUnderLoad(await image('6.0.0'));
    t.deepEqual(switchStory(answers, '5.0.0', '6.0.0').versions, ['5.0.0']);
    t.deepEqual(answers.filter((a) => a.error), []);
    upd = await apiApp();
    t.is(upd.update.state, 'failed');
    t.is(upd.update.error.code, 'UPDATE_NO_SPACE');
    t.is(upd.update.runningVersion, '5.0.0');
    t.is((await json(await env.get('upd', '/data'))).files.flushed, flushed, 'the old version was not even signalled');
  } finally {
    limits.snapshotReserveBytes = reserve;
  }
  // Space is back: the next channel check (unchanged channel) tries the same version again.
  await env.agent.checkChannel();
  upd = await apiApp();
  t.is(upd.update.state, 'done');
  t.is(upd.update.runningVersion, '6.0.0');
});
