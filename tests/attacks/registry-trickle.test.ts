// Proves: a registry that sends its headers at once and then the channel document at one byte a second cannot hang
// the agent. Each attempt at a document has an overall deadline (documentTimeoutMs), so the channel shows TIMEOUT
// and its retry, and recovers when the registry is fast again; and stopping the agent aborts a fetch under way
// instead of waiting for it (it needed SIGKILL before).
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';
import { agentEnv, json, until } from '../support/agent.js';
import { IMAGES } from '../support/registry.js';

/** Serves a registry directory; while `trickle` is on, channels/stable.json comes at one byte a second. */
async function tricklingRegistry(dir: string) {
  const state = { trickle: false, trickled: 0 };
  const open = new Set<ServerResponse>();
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '');
    const bytes = await readFile(join(dir, path)).catch(() => null);
    if (!bytes || path.startsWith('..')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/json' });
    if (!(state.trickle && path === 'channels/stable.json')) return void res.end(bytes);
    state.trickled++;
    open.add(res);
    let at = 0;
    const timer = setInterval(() => (at < bytes.length ? res.write(bytes.subarray(at, ++at)) : res.end()), 1000);
    res.on('close', () => {
      clearInterval(timer);
      open.delete(res);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    close: async () => {
      for (const res of open) res.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

test('a trickled channel: TIMEOUT and a retry, recovery when the registry is fast, and stop() does not wait', async (t) => {
  let registry!: Awaited<ReturnType<typeof tricklingRegistry>>;
  const env = await agentEnv({
    images: [join(IMAGES, 'hello')],
    limits: { documentTimeoutMs: 2000, maxRetries: 1, retryBaseDelayMs: 50, channelPollIntervalMs: 1000, channelPollJitterMs: 100 },
    serve: async (dir) => (registry = await tricklingRegistry(dir)),
  });
  let stopped = false;
  try {
    t.is((await json(await env.api('/api/apps'))).channel.state, 'ok');
    registry.state.trickle = true;
    const timedOut = await until(async () => {
      const { channel } = await json(await env.api('/api/apps'));
      return channel.error?.code === 'TIMEOUT' && channel;
    }, 30_000, 200);
    t.is(timedOut.state, 'retrying', 'a slow registry is not a refusal');
    t.truthy(timedOut.retryInMs, 'the channel says when it tries again');
    t.regex(timedOut.error.message, /documentTimeoutMs/);

    registry.state.trickle = false;
    await until(async () => (await json(await env.api('/api/apps'))).channel.error === null, 30_000, 200);
    t.pass('recovered once the registry was fast again');

    // A poll that is trickling when the agent stops: stop() aborts it.
    registry.state.trickle = true;
    const before = registry.state.trickled;
    await until(() => registry.state.trickled > before, 15_000, 50);
    const started = Date.now();
    const { leftovers } = await env.teardown();
    stopped = true;
    const took = Date.now() - started;
    t.true(took < 5000, `stop() took ${took} ms with a fetch under way`);
    t.deepEqual(leftovers, []);
  } finally {
    if (!stopped) await env.teardown();
  }
});
