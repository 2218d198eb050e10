// Channel watching and the other update paths, as root with the real runc and a real registry server; the agent
// polls the channel every 300 ± 100 ms by itself (no test hook):
//  - a channel whose signature fails changes nothing and is reported (channel.error, a step event);
//  - `exclusive` hand-over under load: the two versions never run at the same time (runc's own list of containers,
//    sampled through the update), and no request fails (they wait for the new version);
//  - a stopped app: pulled in the background, its next start runs the new version;
//  - a frozen app: stays frozen on the old version until its next request, which gets the new version.
import test from 'ava';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentEnv, json, until, type AgentEnv } from '../support/agent.js';
import { steadyLoad, switchStory, updImage } from '../support/update.js';

let env: AgentEnv;
const dirs: string[] = [];

async function image(name: string, version: string, publicPort: number, handover: 'exclusive' | 'signal' = 'signal'): Promise<string> {
  const dir = await updImage(version, { name, handover, publicPort });
  dirs.push(dir);
  return dir;
}

const APPS = { excl: 18391, sleepy: 18392, frosty: 18393 } as const;

test.before(async () => {
  env = await agentEnv({
    images: [await image('excl', '1.0.0', APPS.excl, 'exclusive'), await image('sleepy', '1.0.0', APPS.sleepy), await image('frosty', '1.0.0', APPS.frosty)],
    limits: { channelPollIntervalMs: 300, channelPollJitterMs: 100, updateGraceMs: 500, updateDrainTimeoutMs: 3000, updateStartTimeoutMs: 5000 },
  });
});

test.after.always(async (t) => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  if (!env) return;
  const { leftovers } = await env.teardown();
  t.deepEqual(leftovers, []);
});

const apiApp = async (name: string) => (await json(await env.api('/api/apps'))).apps.find((a: { name: string }) => a.name === name);
const apiChannel = async () => (await json(await env.api('/api/apps'))).channel;

test.serial('a channel that fails verification changes nothing and is reported', async (t) => {
  await until(() => env.agent.watcher!.polls >= 1);
  const path = join(env.registry.dir, 'channels', 'stable.json');
  const good = await readFile(path);
  const doc = JSON.parse(good.toString());
  const version = doc.signed.version;
  doc.signed.version = version + 5; // changed after signing
  await writeFile(path, JSON.stringify(doc));
  try {
    const channel = await until(async () => ((await apiChannel()).error ? apiChannel() : null), 20_000);
    t.is(channel.state, 'error');
    t.is(channel.error.code, 'SIGNATURE_INVALID');
    t.is(channel.version, version, 'the device stays on the channel it verified');
    t.is((await apiApp('excl')).update.state, 'idle');
  } finally {
    await writeFile(path, good);
  }
  // The registry serves the good document again: the next check clears the report.
  await env.registry.sign();
  const channel = await until(async () => ((await apiChannel()).state === 'ok' ? apiChannel() : null), 20_000);
  t.is(channel.version, version + 1);
  t.is(channel.error, null);
});

test.serial('exclusive hand-over: the versions never run at once; stopped and frozen apps take the new version at their next start', async (t) => {
  // excl runs under load; sleepy ran and was stopped; frosty runs and is frozen.
  for (const name of Object.keys(APPS)) t.is((await json(await env.get(name))).version, '1.0.0');
  t.is((await env.api('/api/apps/sleepy/stop', { method: 'POST' })).status, 202);
  await until(() => env.agent.apps.get('sleepy')!.state === 'stopped');
  await until(() => env.agent.apps.get('frosty')!.connections === 0);
  t.is((await env.api('/api/apps/frosty/freeze', { method: 'POST' })).status, 202);
  await until(() => env.agent.apps.get('frosty')!.state === 'frozen');
  const frostyStarts = env.agent.apps.get('frosty')!.starts;

  // Sample runc's list of containers through the update.
  const samples: { running: string[] }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const list = await env.agent.runc.list();
      samples.push({ running: list.filter((c) => c.id.includes('-excl-') && c.status !== 'stopped').map((c) => c.id) });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const excl = env.agent.apps.get('excl')!.publicPorts.get('http')!;
  const load = steadyLoad(excl, { ratePerSecond: 200, maxRequests: 6000 });
  for (const name of Object.keys(APPS)) await env.registry.publish(await image(name, '2.0.0', APPS[name as keyof typeof APPS], name === 'excl' ? 'exclusive' : 'signal'));
  await env.registry.sign();
  // No test hook: the agent's own poll finds the new channel.
  await until(async () => (await apiApp('excl')).update.state === 'done', 20_000);
  await new Promise((r) => setTimeout(r, 300));
  const answers = await load.stop();
  sampling = false;
  await sampler;

  const story = switchStory(answers, '1.0.0', '2.0.0');
  t.log(`${answers.length} requests, ${samples.length} samples of runc list; gap: last 1.0.0 answer at ${story.lastOld?.toFixed(1)} ms, first 2.0.0 at ${story.firstNew?.toFixed(1)} ms`);
  t.deepEqual(story.failed, [], 'no request failed: they waited for the new version');
  t.deepEqual(story.strays, []);
  t.true(samples.length >= 20);
  const most = Math.max(...samples.map((s) => s.running.length));
  t.is(most, 1, `never two containers of excl at once (${JSON.stringify(samples.find((s) => s.running.length > 1))})`);
  t.true(new Set(samples.flatMap((s) => s.running)).size >= 2, 'the samples saw the old and the new container');
  t.true(samples.some((s) => s.running.length === 0), 'and the moment in between, when neither ran');
  t.deepEqual(env.agent.updaters.get('excl')!.history.slice(-5), ['downloading', 'preparing', 'starting', 'switching', 'done']);
  t.true((await json(await env.get('excl', '/data'))).files.b === '2.0.0');

  // The stopped app: downloaded in the background, not started; its next start runs 2.0.0.
  await until(async () => (await apiApp('sleepy')).update.state === 'done', 10_000);
  const sleepy = await apiApp('sleepy');
  t.is(sleepy.state, 'stopped');
  t.is(sleepy.version, '2.0.0');
  t.is(sleepy.update.runningVersion, null);
  t.deepEqual(env.agent.apps.get('sleepy')!.containerIds(), []);
  t.is((await json(await env.get('sleepy'))).version, '2.0.0');

  // The frozen app: still frozen on 1.0.0, the new version pending; its next request stops it and gets 2.0.0.
  await until(async () => (await apiApp('frosty')).update.state === 'pending', 10_000);
  const frosty = await apiApp('frosty');
  t.is(frosty.state, 'frozen');
  t.is(frosty.update.runningVersion, '1.0.0');
  t.is(frosty.update.pendingVersion, '2.0.0');
  t.is((await json(await env.get('frosty'))).version, '2.0.0');
  const after = await apiApp('frosty');
  t.is(after.update.state, 'done');
  t.is(after.update.runningVersion, '2.0.0');
  t.is(env.agent.apps.get('frosty')!.starts, frostyStarts + 1);
  t.is(env.agent.apps.get('frosty')!.containerIds().length, 1);
});
