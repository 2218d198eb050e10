// python-web and nginx-static, published from images/ with their Debian packages, run by the real agent under runc
// on the host: the first request starts each; python-web keeps a guestbook entry in /data across a restart and
// stops on SIGTERM within a second (tini passes it on; the app exits cleanly, no SIGKILL); nginx serves its site as uid 1000 on the read-only root, its temp files in /tmp.
import test from 'ava';
import { join } from 'node:path';
import { agentEnv, json, until, type AgentEnv } from '../support/agent.js';
import { IMAGES } from '../support/registry.js';

let env: AgentEnv;

test.before(async () => {
  env = await agentEnv({ images: [join(IMAGES, 'python-web'), join(IMAGES, 'nginx-static')], limits: { stopGraceMs: 5000 } });
});

test.after.always(async (t) => {
  if (env) t.deepEqual((await env.teardown()).leftovers, []);
});

test.serial('python-web: a guestbook entry is kept in /data; SIGTERM stops it within 1 s, without SIGKILL', async (t) => {
  const posted = await env.get('python-web', '/health');
  t.is(posted.status, 200);
  const put = await fetch(`http://127.0.0.1:${env.agent.apps.get('python-web')!.publicPorts.get('http')}/api/entries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ name: 'tester', text: 'kept across a restart' }),
  });
  t.is(put.status, 201, await put.text());
  const app = env.agent.apps.get('python-web')!;
  await until(() => app.connections === 0);
  const started = Date.now();
  await app.stop();
  const tookMs = Date.now() - started;
  t.true(tookMs < 1000, `stop took ${tookMs} ms`);
  // The app exits cleanly on SIGTERM (0); a SIGKILL after the grace period would show 137.
  t.true(app.logs.tail().some((l) => /stopped \(status (0|143)\)/.test(l)), app.logs.tail().join('\n'));
  const entries = await json(await env.get('python-web', '/api/entries'));
  t.is(entries.entries[0].text, 'kept across a restart');
  t.is(app.starts, 2);
});

test.serial('nginx-static: serves its site as uid 1000 on a read-only root', async (t) => {
  const page = await env.get('nginx-static', '/');
  t.is(page.status, 200);
  t.regex(await page.text(), /<html/i);
  t.is((await env.get('nginx-static', '/about.html')).status, 200);
  t.is((await env.get('nginx-static', '/missing')).status, 404);
  const app = env.agent.apps.get('nginx-static')!;
  await until(() => app.connections === 0);
  await app.stop();
  t.true(app.logs.tail().some((l) => /stopped \(status 0\)/.test(l)), `SIGQUIT: nginx finishes and exits 0\n${app.logs.tail().join('\n')}`);
});
