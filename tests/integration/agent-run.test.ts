// The agent end to end, as root with the real runc and a real registry server: nothing is downloaded before the
// first request; the first request pulls, starts and gets the app's answer; inside, the app is isolated
// (PID 1, its own hostname, read-only /, non-root, host files and processes invisible) and its /data survives a
// stop and a start. Plus the local API: shapes, errors, who may change state, the kiosk fallback page, SSE and the
// activity history.
import test from 'ava';
import { writeFile, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { agentEnv, json, until, type AgentEnv } from '../support/agent.js';
import { IMAGES } from '../support/registry.js';

let env: AgentEnv;

test.before(async () => {
  env = await agentEnv({ images: ['probe', join(IMAGES, 'hello')] });
});

test.after.always(async (t) => {
  if (!env) return;
  const { leftovers } = await env.teardown();
  t.deepEqual(leftovers, [], 'the agent left containers, bundles or networks behind');
});

test.serial('nothing is downloaded before the first request, which pulls, starts and answers', async (t) => {
  const apps = await json(await env.api('/api/apps'));
  t.is(apps.channel.state, 'ok');
  t.is(apps.channel.version, 1);
  const probe = apps.apps.find((a: { name: string }) => a.name === 'probe');
  t.is(probe.state, 'available');
  t.is(probe.version, '1.0.0');
  t.true(probe.port > 0);
  const manifest = env.registry.images.get('probe')!.manifest.digest;
  t.is(await env.agent.store.rootOf(manifest), null, 'the store must not hold the image before the first request');

  // Concurrent first connections share one pull and one start.
  const answers = await Promise.all([1, 2, 3].map(() => env.get('probe').then(json)));
  for (const a of answers) t.is(a.hostname, 'probe');
  t.truthy(await env.agent.store.rootOf(manifest), 'the first request pulled the image into the store');
  const after = (await json(await env.api('/api/apps'))).apps.find((a: { name: string }) => a.name === 'probe');
  t.is(after.state, 'running');
  t.is(after.starts, 1);
  const hello = await env.get('hello');
  t.is(hello.status, 200);
  t.regex(await hello.text(), /Hello from bootos/);
});

test.serial('inside the app: PID 1, its hostname, read-only root, non-root, no host files or processes', async (t) => {
  const marker = join('/root', `bootos-marker-${process.pid}`);
  await writeFile(marker, 'host secret');
  try {
    const seen = await json(await env.get('probe', `/?exists=${encodeURIComponent(marker)}`));
    t.is(seen.pid, 1, 'the app is PID 1 of its own PID namespace');
    t.is(seen.hostname, 'probe');
    t.is(seen.rootWrite, 'EROFS', '/ is read-only');
    t.not(seen.uid, 0);
    t.is(seen.uid, 1000);
    t.deepEqual(seen.processes, ['1'], 'only its own process is visible');
    t.false(seen.exists, 'a host file is invisible');
    t.deepEqual(seen.interfaces.sort(), ['eth0', 'lo'], 'its own network namespace');
    const probeExists = await json(await env.get('probe', '/?exists=/app/server.js'));
    t.true(probeExists.exists);
  } finally {
    await rm(marker, { force: true });
  }
});

test.serial('/data persists across stop and start', async (t) => {
  const first = await json(await env.get('probe', '/count'));
  const second = await json(await env.get('probe', '/count'));
  t.is(second.count, first.count + 1);
  const stop = await env.api('/api/apps/probe/stop', { method: 'POST' });
  t.is(stop.status, 202);
  t.deepEqual(await stop.json(), { ok: true });
  await until(() => env.agent.apps.get('probe')!.state === 'stopped');
  t.deepEqual(env.agent.apps.get('probe')!.containerIds(), []);
  const third = await json(await env.get('probe', '/count'));
  t.is(third.count, second.count + 1, 'the count written before the stop is still there');
  t.is(env.agent.apps.get('probe')!.starts, 2);
  const logs = await json(await env.api('/api/apps/probe/logs'));
  t.true(logs.lines.some((l: string) => l.includes('probe: SIGTERM')), 'the stop sent SIGTERM');
  t.true(logs.lines.some((l: string) => l.includes('probe listening')));
});

test.serial('API: start, errors, who may change state', async (t) => {
  t.is((await env.api('/api/apps/nope/stop', { method: 'POST' })).status, 404);
  t.is((await json(await env.api('/api/apps/nope/stop', { method: 'POST' }))).error.code, 'APP_UNKNOWN');
  // An app page (another origin) in the kiosk browser must not stop apps.
  const foreign = await env.api('/api/apps/probe/stop', { method: 'POST', headers: { origin: 'http://127.0.0.1:18180' } });
  t.is(foreign.status, 403);
  t.is((await foreign.json()).error.code, 'FORBIDDEN');
  // DNS rebinding: a name that is not an IP address or localhost.
  const rebound = await rawGet(env.agent.api.port, '/api/apps', { host: `evil.example:${env.agent.api.port}` });
  t.is(rebound, 403);
  t.is(await rawGet(env.agent.api.port, '/api/apps', { host: `localhost:${env.agent.api.port}` }), 200);
  // The kiosk's own origin may.
  const own = await env.api('/api/apps/hello/stop', { method: 'POST', headers: { origin: `http://127.0.0.1:${env.agent.api.port}` } });
  t.is(own.status, 202);
  await until(() => env.agent.apps.get('hello')!.state === 'stopped');
  const stopAgain = await env.api('/api/apps/hello/stop', { method: 'POST' });
  t.is(stopAgain.status, 409);
  t.is((await stopAgain.json()).error.code, 'APP_STATE');
  t.is((await env.api('/api/apps/hello/start', { method: 'POST' })).status, 202);
  await until(() => env.agent.apps.get('hello')!.state === 'running');

  const health = await json(await env.api('/api/health'));
  t.true(health.ok);
  t.is(typeof health.uptimeSeconds, 'number');
  const device = await json(await env.api('/api/device'));
  t.is(device.arch, env.agent.config.arch);
  t.true(device.memory.totalBytes > 0);
  t.true(device.cpu.cores > 0);
  t.true(Array.isArray(device.disks) && Array.isArray(device.network));
  const kiosk = await env.api('/');
  t.is(kiosk.status, 200);
  t.regex(await kiosk.text(), /kiosk is not installed/);
  await writeFile(join(env.agent.config.kioskDir, 'index.html'), '<h1>kiosk</h1>');
  t.is(await (await env.api('/')).text(), '<h1>kiosk</h1>');
  t.is((await env.api('/../root.json')).status, 404);
});

test.serial('GET /api/events streams app states and steps', async (t) => {
  const controller = new AbortController();
  const response = await env.api('/api/events', { signal: controller.signal });
  t.is(response.headers.get('content-type'), 'text/event-stream');
  const reader = response.body!.getReader();
  let text = '';
  const read = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
  })().catch(() => {});
  await env.api('/api/apps/probe/stop', { method: 'POST' });
  await until(() => text.includes('"state":"stopped"') && text.includes('event: step')).catch((err) => {
    t.log(text);
    throw err;
  });
  controller.abort();
  await read;
  t.regex(text, /^event: apps\ndata: \{"device"/);
  const step = /event: step\ndata: (\{"seq":\d+,"at":"[^"]+","app":"probe","message":"[^"]+"\})/.exec(text);
  t.truthy(step, text);
  // The same step is in the history that a kiosk reads after a reload, oldest first.
  const { entries } = await json(await env.api('/api/activity'));
  t.deepEqual(entries.find((e: { seq: number }) => e.seq === JSON.parse(step![1]!).seq), JSON.parse(step![1]!));
  t.true(entries.every((e: { seq: number }, i: number) => i === 0 || e.seq === entries[i - 1].seq + 1), 'in order, none missing');
});

/** fetch() may not set Host; node:http may. */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}
