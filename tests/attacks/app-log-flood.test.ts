// Proves: one app's output without newlines cannot stall or bloat the agent. The log follower holds at most one
// capped line per stream (the head of an over-long line is kept and marked, the rest dropped as it arrives, never
// buffered or re-scanned), so 64 MiB on stdout with no newline leaves the agent's memory flat, its API answering and
// other apps serving; ordinary lines after the flood are logged as usual.
import test from 'ava';
import { PassThrough } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { CUT_MARK, LogRing, MAX_LINE_CHARS } from '../../bootos/src/agent/app/logs.js';
import { agentEnv, json } from '../support/agent.js';
import { IMAGES, makeImageDir } from '../support/registry.js';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { FLOOD_SERVER } from '../support/attack-apps.js';

test('a stream with no newline: at most one capped line is held, whatever arrives', async (t) => {
  const ring = new LogRing(10);
  const stream = new PassThrough();
  ring.follow(stream);
  const chunk = 'x'.repeat(64 * 1024);
  let most = 0;
  for (let i = 0; i < 256; i++) {
    stream.write(chunk); // 16 MiB in all
    await tick();
    most = Math.max(most, ring.pending);
  }
  t.true(most <= MAX_LINE_CHARS, `held ${most} characters`);
  stream.write('\nafter\n');
  await tick();
  const lines = ring.tail();
  t.is(lines.length, 2);
  t.is(lines[0], `${'x'.repeat(MAX_LINE_CHARS)}${CUT_MARK}`);
  t.is(lines[1], 'after');
  t.is(ring.pending, 0);
});

test('lines split across chunks are joined; CRLF is trimmed; the last line is kept at the end', async (t) => {
  const ring = new LogRing(10);
  const stream = new PassThrough();
  ring.follow(stream);
  for (const part of ['hel', 'lo\r\nwor', 'ld\n', 'tail']) {
    stream.write(part);
    await tick();
  }
  stream.end();
  await new Promise((r) => stream.once('end', r));
  await tick();
  t.deepEqual(ring.tail(), ['hello', 'world', 'tail']);
});

test('64 MiB on stdout without a newline: the agent stays small, its API and other apps answer', async (t) => {
  const image = await makeImageDir(
    { 'server.js': FLOOD_SERVER },
    ['name: flood', 'version: 1.0.0', 'runtime: node', 'entrypoint: [node, /app/server.js]', 'ports:', '  - port: 8080', '    public: 18195', 'resources:', '  memory: 256Mi', ''].join('\n'),
  );
  const env = await agentEnv({ images: [image, join(IMAGES, 'hello')] });
  try {
    t.is((await env.get('flood')).status, 200);
    t.is((await env.get('hello')).status, 200);
    global.gc?.();
    const before = process.memoryUsage().rss;
    const flood = env.get('flood', '/flood').then((r) => r.text());
    // While it floods, the API and another app keep answering.
    for (let i = 0; i < 5; i++) {
      t.is((await env.api('/api/health')).status, 200);
      t.is((await env.get('hello')).status, 200);
    }
    t.is(await flood, 'flooded');
    const grown = process.memoryUsage().rss - before;
    t.true(grown < 64 * 1024 * 1024, `the agent's process grew by ${Math.round(grown / 1048576)} MiB`);
    const { lines } = await json(await env.api('/api/apps/flood/logs'));
    const cut = (lines as string[]).find((l) => l.endsWith(CUT_MARK));
    t.truthy(cut, 'the over-long line is kept cut and marked');
    t.is(cut!.length, MAX_LINE_CHARS + CUT_MARK.length);
    t.true((lines as string[]).includes('flood done'), 'the next ordinary line is logged');
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    await rm(image, { recursive: true, force: true });
  }
});
