// Proves: pullImage (and `bootos pull`) turn a verified channel into an unpacked root in the store, over real HTTP:
// the files match the image, progress reaches 100 %, an image the channel does not pin is refused, concurrent pulls
// of one image share one download, a second pull needs no layer download, and wrong layer bytes leave nothing.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { HttpSource } from '../../fetcher/src/source/http-source.js';
import { pullImage, type PullProgress } from '../../fetcher/src/store/pull.js';
import { startServer } from '../../fetcher/src/publish/serve.js';
import { Store } from '../../fetcher/src/store/store.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { IMAGES, REPO, makeRegistry, tempDir } from '../support/registry.js';

async function setup() {
  const registry = await makeRegistry();
  const requests: string[] = [];
  const server = await startServer({ dir: registry.dir, log: (line) => requests.push(line) });
  const source = new HttpSource(server.url);
  const trust = await Trust.open({ initialRoot: registry.rootBytes });
  const channel = (await trust.fetchChannel(source, 'stable')).signed;
  const storeDir = await tempDir('bootos-store-');
  const layer = registry.images.get('hello')!.layers[0]!;
  return {
    registry, server, source, channel, storeDir, layer, requests,
    layerRequests: () => requests.filter((l) => l.includes(layer.digest.slice(7))).length,
    cleanup: async () => {
      source.close();
      await server.close();
      await registry.cleanup();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

test('pulls and unpacks an image; progress reaches 100 %; a second pull downloads no layer', async (t) => {
  const s = await setup();
  try {
    const store = new Store(s.storeDir);
    const events: PullProgress[] = [];
    const pulled = await pullImage({ source: s.source, store, channel: s.channel, image: 'hello', onProgress: (p) => events.push(p) });
    t.is(pulled.rootfs, (await store.rootOf(pulled.manifestDigest))!);
    t.is(await readFile(join(pulled.rootfs, 'app/server.js'), 'utf8'), await readFile(join(IMAGES, 'hello/server.js'), 'utf8'));
    t.true((await stat(join(pulled.rootfs, 'tmp'))).isDirectory());
    t.is(pulled.config.name, 'hello');
    t.true(events.length > 0);
    t.deepEqual(events.at(-1), { image: 'hello', doneBytes: s.layer.size, totalBytes: s.layer.size });
    for (let i = 1; i < events.length; i++) t.true(events[i]!.doneBytes >= events[i - 1]!.doneBytes);
    t.deepEqual(await store.verify(), { checked: 4, bad: [] });
    t.is(s.layerRequests(), 1);
    const again = await pullImage({ source: s.source, store: new Store(s.storeDir), channel: s.channel, image: 'hello' });
    t.is(again.rootfs, pulled.rootfs);
    t.is(s.layerRequests(), 1);
  } finally {
    await s.cleanup();
  }
});

test('an image the channel does not pin is refused', async (t) => {
  const s = await setup();
  try {
    const err = await t.throwsAsync(pullImage({ source: s.source, store: new Store(s.storeDir), channel: s.channel, image: 'not-there' }));
    t.true(isBootosError(err, 'IMAGE_NOT_IN_CHANNEL'));
  } finally {
    await s.cleanup();
  }
});

test('concurrent pulls of one image share one pull', async (t) => {
  const s = await setup();
  try {
    const store = new Store(s.storeDir);
    const pulls = await Promise.all([1, 2, 3].map(() => pullImage({ source: s.source, store, channel: s.channel, image: 'hello' })));
    t.is(new Set(pulls.map((p) => p.rootfs)).size, 1);
    t.is(s.layerRequests(), 1);
  } finally {
    await s.cleanup();
  }
});

test('concurrent pulls of one blob through two stores of the same directory download it once', async (t) => {
  const s = await setup();
  try {
    const store = new Store(s.storeDir);
    await Promise.all([store.fetchBlob(s.source, s.layer), store.fetchBlob(s.source, s.layer)]);
    t.is(s.layerRequests(), 1);
    t.true(await store.hasBlob(s.layer.digest));
  } finally {
    await s.cleanup();
  }
});

test('wrong layer bytes are refused (DIGEST_MISMATCH) and leave no blob, root or partial', async (t) => {
  const s = await setup();
  // A proxy that serves the registry but flips one byte in the middle of the layer.
  const proxy = createServer(async (req, res) => {
    const upstream = await fetch(new URL(req.url!, s.server.url));
    const body = Buffer.from(await upstream.arrayBuffer());
    if (req.url!.includes(s.layer.digest.slice(7))) body[body.length >> 1]! ^= 0x55;
    res.writeHead(upstream.status, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const source = new HttpSource(`http://127.0.0.1:${(proxy.address() as { port: number }).port}/`);
  try {
    const store = new Store(s.storeDir);
    const err = await t.throwsAsync(pullImage({ source, store, channel: s.channel, image: 'hello' }));
    t.true(isBootosError(err, 'DIGEST_MISMATCH'), String(err));
    t.false(await store.hasBlob(s.layer.digest));
    t.deepEqual(await readdir(join(s.storeDir, 'roots')), []);
    t.deepEqual(await readdir(join(s.storeDir, 'tmp')), []);
  } finally {
    source.close();
    proxy.closeAllConnections();
    proxy.close();
    await s.cleanup();
  }
});

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('bootos pull prints the root; an image outside the channel exits 1 with its code', async (t) => {
  const s = await setup();
  try {
    const args = [join(REPO, 'bin/bootos.mjs'), 'pull', 'hello', '--registry', s.server.url, '--root', join(s.registry.dir, 'root.json'), '--channel', 'stable', '--store', s.storeDir];
    const ok = await run(args);
    t.is(ok.status, 0, ok.stderr);
    const rootfs = ok.stdout.trim();
    t.is(await readFile(join(rootfs, 'app/index.html'), 'utf8'), await readFile(join(IMAGES, 'hello/index.html'), 'utf8'));
    t.regex(ok.stderr, /hello: 100%/);
    const json = await run([...args, '--json']);
    t.is(JSON.parse(json.stdout).rootfs, rootfs);
    args[2] = 'nope';
    const refused = await run(args);
    t.is(refused.status, 1);
    t.regex(refused.stderr, /IMAGE_NOT_IN_CHANNEL/);
  } finally {
    await s.cleanup();
  }
});
