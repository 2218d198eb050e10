// Idle policy and failures, as root with the real runc: idle stop after N s and a restart on the next request;
// freeze (runc pause, set by the profile over the image) and thaw on the next request; a crash loop backs off and
// shows `failed` with its last log lines while another app keeps serving; an app over its memory limit is killed
// alone and reported as APP_OOM.
import test from 'ava';
import { join } from 'node:path';
import { agentEnv, json, until, type AgentEnv } from '../support/agent.js';
import { IMAGES } from '../support/registry.js';

let env: AgentEnv;

test.before(async () => {
  env = await agentEnv({
    images: ['probe', 'crasher', 'hog', join(IMAGES, 'hello')],
    profiles: {
      office: [
        // The profile overrides the image's idle policy (300 s stop).
        { image: 'probe', idle: { afterSeconds: 1, action: 'stop' } },
        'crasher',
        'hog',
        { image: 'hello', idle: { afterSeconds: 1, action: 'freeze' } },
      ],
    },
    limits: { crashLoopCount: 3, crashWindowMs: 60_000, crashBackoffMinMs: 2_000 },
  });
});

test.after.always(async (t) => {
  if (!env) return;
  const { leftovers } = await env.teardown();
  t.deepEqual(leftovers, []);
});

const state = (name: string) => env.agent.apps.get(name)!.state;

test.serial('idle stop after N seconds, restart on the next request', async (t) => {
  const first = await json(await env.get('probe'));
  t.is(first.hostname, 'probe');
  t.is(state('probe'), 'running');
  const apps = await json(await env.api('/api/apps'));
  const probe = apps.apps.find((a: { name: string }) => a.name === 'probe');
  t.deepEqual({ afterSeconds: probe.idle.afterSeconds, action: probe.idle.action }, { afterSeconds: 1, action: 'stop' });
  await until(() => state('probe') === 'stopped', 10_000);
  t.deepEqual(env.agent.apps.get('probe')!.containerIds(), [], 'the container is gone');
  const again = await json(await env.get('probe'));
  t.is(again.pid, 1);
  t.is(env.agent.apps.get('probe')!.starts, 2);
});

test.serial('freeze and thaw on the next request', async (t) => {
  const app = env.agent.apps.get('probe')!;
  await env.get('probe');
  await until(() => app.connections === 0);
  const frozen = await env.api('/api/apps/probe/freeze', { method: 'POST' });
  t.is(frozen.status, 202);
  await until(() => state('probe') === 'frozen');
  const starts = app.starts;
  const [id] = app.containerIds();
  const list = await env.agent.runc.list();
  t.is(list.find((c) => c.id === id)?.status, 'paused', 'runc reports the container paused');
  const answer = await json(await env.get('probe', '/count'));
  t.is(answer.pid, 1);
  t.is(app.starts, starts, 'thawed, not restarted');
  t.is(state('probe'), 'running');
  t.is((await env.agent.runc.list()).find((c) => c.id === id)?.status, 'running');
});

test.serial('idle freeze after N seconds (profile policy), thaw on the next request', async (t) => {
  const app = env.agent.apps.get('hello')!;
  t.is((await env.get('hello')).status, 200);
  await until(() => state('hello') === 'frozen', 10_000);
  t.is(app.starts, 1);
  t.is((await env.get('hello')).status, 200);
  t.is(app.starts, 1, 'thawed, not restarted');
  t.is(state('hello'), 'running');
});

test.serial('a crash loop backs off and shows failed with its last log lines; other apps keep serving', async (t) => {
  for (let i = 0; i < 3; i++) {
    const res = await env.get('crasher');
    t.is(res.status, 503);
    const body = await res.json();
    t.is(body.error.code, 'APP_CRASHED', `attempt ${i + 1}`);
  }
  t.is(state('crasher'), 'failed');
  const refused = await env.get('crasher');
  t.is(refused.status, 503);
  t.is((await refused.json()).error.code, 'APP_FAILED', 'during the backoff, no start is attempted');
  const apps = await json(await env.api('/api/apps'));
  const crasher = apps.apps.find((a: { name: string }) => a.name === 'crasher');
  t.is(crasher.state, 'failed');
  t.is(crasher.error.code, 'APP_CRASHED');
  t.is(crasher.error.exitCode, 3);
  t.true(crasher.error.logTail.some((l: string) => l.includes('crasher: fatal: something broke')));
  // The other app was not touched.
  const probeAfter = await json(await env.get('probe'));
  t.is(probeAfter.hostname, 'probe');
  t.is(state('probe'), 'running');
  t.is(env.agent.apps.get('probe')!.error, null);
  // After the backoff, the next request tries again (and it crashes again, failed again).
  await new Promise((r) => setTimeout(r, 2_100));
  const retry = await env.get('crasher');
  t.is((await retry.json()).error.code, 'APP_CRASHED');
});

test.serial('an app over its memory limit is killed alone and reported', async (t) => {
  t.is(await (await env.get('hog')).text(), 'hungry\n');
  const eat = await env.get('hog', '/eat').catch((err: Error) => err);
  t.true(eat instanceof Error, 'the connection dies with the app');
  await until(() => state('hog') === 'stopped');
  const hog = env.agent.apps.get('hog')!;
  t.is(hog.error?.code, 'APP_OOM');
  t.is(hog.error?.exitCode, 137);
  t.true(hog.error!.logTail!.some((l) => l.includes('hog: eating')));
  const probe = await json(await env.get('probe'));
  t.is(probe.hostname, 'probe');
  t.is(env.agent.apps.get('probe')!.error, null, 'the other app saw no failure');
  // The next request restarts it.
  t.is(await (await env.get('hog')).text(), 'hungry\n');
});
