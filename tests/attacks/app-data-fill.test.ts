// Proves: one app that fills its /data cannot take the space of the others or of the agent. On a small ext4 data
// root (a 384 MiB file system, no blocks reserved for root) an app writes to its /data until the kernel says no:
// its own write fails (ENOSPC inside its own volume, after at most its quota, the image's `resources.data`, default
// 64 MiB), the volume file never grows beyond that size, the data root keeps `dataReserveBytes` free, and then
// another app's hot update and a third app's first download both succeed. On the code before per-app volumes the
// app filled the whole data root, the hot update failed with UPDATE_NO_SPACE and the download with ENOSPC.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_DATA_BYTES } from '../../fetcher/src/formats/image-config.js';
import { DEFAULT_LIMITS } from '../../fetcher/src/core/limits.js';
import { agentEnv, json, until } from '../support/agent.js';
import { makeImageDir, tempDir } from '../support/registry.js';
import { updImage } from '../support/update.js';

const MiB = 1024 * 1024;

// Writes 1 MiB chunks to /data/fill until a write fails (at most 1 GiB), fsyncs, and says how far it got.
const FILLER = `const { createServer } = require('node:http');
const fs = require('node:fs');
const chunk = Buffer.alloc(1 << 20, 7);
createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url !== '/fill') return res.end('{"ok":true}');
  let written = 0;
  let error = null;
  const fd = fs.openSync('/data/fill', 'w');
  try {
    for (let i = 0; i < 1024; i++) written += fs.writeSync(fd, chunk);
  } catch (e) {
    error = e.code;
  }
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    error = error || e.code;
  }
  fs.closeSync(fd);
  res.end(JSON.stringify({ written, error }));
}).listen(8080, () => console.log('filler listening'));
`;

const FILLER_YAML = `name: filler
version: 1.0.0
description: writes to /data until it is full
runtime: node
entrypoint: [node, /app/server.js]
ports:
  - port: 8080
    public: 18471
health:
  http: /
  intervalMs: 20
  timeoutMs: 1000
idle:
  after: 0
data: true
resources:
  memory: 96Mi
`;

test('an app filling its /data fails inside its own volume; another app updates and a third downloads', async (t) => {
  const fsDir = await tempDir('bootos-dataroot-');
  const fsFile = join(fsDir, 'data.ext4');
  let mountedAt = '';
  const env = await agentEnv({
    images: [await makeImageDir({ 'server.js': FILLER }, FILLER_YAML), await updImage('1.0.0', { name: 'victim', publicPort: 18472 }), await updImage('1.0.0', { name: 'late', publicPort: 18473 })],
    beforeStart: async (base) => {
      // The data root (state, store, apps' data) is a small ext4 of its own, as a BOOTOS-DATA partition would be.
      execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', fsFile, '384M']);
      mountedAt = join(base, 'var');
      await mkdir(mountedAt, { recursive: true });
      execFileSync('mount', ['-o', 'loop', fsFile, mountedAt]);
    },
  });
  try {
    const app = (name: string) => env.agent.apps.get(name)!.toJSON() as any;
    t.is(((await json(await env.get('victim'))) as { version: string }).version, '1.0.0');

    // The attack: fill /data.
    const fill = (await json(await env.get('filler', '/fill'))) as { written: number; error: string | null };
    t.log(`the app wrote ${fill.written} bytes, then ${fill.error}`);
    t.is(fill.error, 'ENOSPC', "the app's own write fails");
    t.true(fill.written <= DEFAULT_DATA_BYTES, `wrote ${fill.written} bytes, more than its ${DEFAULT_DATA_BYTES}-byte quota`);
    t.true(fill.written >= DEFAULT_DATA_BYTES / 2, `wrote only ${fill.written} bytes of its ${DEFAULT_DATA_BYTES}-byte quota`);
    const volume = await stat(join(env.agent.config.dataRoot, '.volumes', 'filler.ext4')).catch(() => null);
    t.is(volume?.size, DEFAULT_DATA_BYTES, 'the volume file is the quota, no more');
    t.true((volume?.blocks ?? Infinity) * 512 <= DEFAULT_DATA_BYTES + MiB, 'and takes no more on disk');
    const root = await statfs(mountedAt);
    t.true(Number(root.bavail) * Number(root.bsize) >= DEFAULT_LIMITS.dataReserveBytes, 'the data root keeps its reserve');
    t.is(((await json(await env.get('filler'))) as { ok: boolean }).ok, true, 'the filler itself still serves');

    // Another app's hot update: its /data snapshot and the new version's download fit.
    const dir = await updImage('2.0.0', { name: 'victim', publicPort: 18472 });
    await writeFile(join(dir, 'v2.txt'), 'a layer of its own\n');
    await env.registry.publish(dir);
    await env.registry.sign();
    await env.agent.checkChannel();
    await until(() => app('victim').update.state === 'done' || app('victim').update.state === 'failed');
    t.is(app('victim').update.state, 'done', JSON.stringify(app('victim').update));
    t.is(((await json(await env.get('victim'))) as { version: string }).version, '2.0.0');

    // A first download (and a first /data volume) of an app never started before.
    const late = await env.get('late');
    t.is(late.status, 200, JSON.stringify(app('late').error));
    t.is(((await json(late)) as { version: string }).version, '1.0.0');
  } finally {
    await env.agent.stop();
    if (mountedAt) execFileSync('umount', [mountedAt]);
    const { leftovers } = await env.teardown();
    execFileSync('rm', ['-rf', fsDir]);
    t.deepEqual(leftovers, []);
  }
});
