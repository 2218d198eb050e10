// pullImage() from a real OCI registry (docker-registry): the same streaming verify-and-unpack as from a static
// registry, with the shared transport's mirror fail-over and Range resume — proved against a proxy that cuts the
// layer download halfway — and `bootos pull oci+http://…` from the command line.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OciSource } from '../../fetcher/src/source/oci-source.js';
import { pullImage } from '../../fetcher/src/store/pull.js';
import { pushRegistry } from '../../fetcher/src/publish/push.js';
import { Store } from '../../fetcher/src/store/store.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { countRequests, startDockerRegistry, type DockerRegistry } from '../support/docker-registry.js';
import { freePort } from '../support/office-cache.js';
import { makeImageDir, makeRegistry, REPO, tempDir, type TestRegistry } from '../support/registry.js';

const run = promisify(execFile);
let registry: DockerRegistry;
let layout: TestRegistry;
const payload = randomBytes(600_000).toString('base64');

test.before(async () => {
  registry = await startDockerRegistry();
  const dir = await makeImageDir(
    { 'srv/payload.txt': payload, 'srv/hello.txt': 'hello from the registry\n' },
    'name: files\nversion: 1.0.0\nruntime: node\nentrypoint: [node, -e, "0"]\nfiles:\n  - from: srv\n    to: /srv\n',
  );
  layout = await makeRegistry({ images: [dir] });
  await pushRegistry(layout.dir, registry.url('pulls'));
});

test.after.always(async () => {
  await registry?.stop();
  await layout?.cleanup();
});

async function pullFrom(source: OciSource) {
  const storeDir = await tempDir('bootos-store-');
  try {
    const channel = await (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(source, 'stable');
    const store = new Store(storeDir);
    const pulled = await pullImage({ source, store, channel: channel.signed, image: 'files', arch: 'x86_64' });
    return {
      pulled,
      stored: await store.rootOf(pulled.manifestDigest),
      payload: await readFile(join(pulled.rootfs, 'srv', 'payload.txt'), 'utf8'),
      hello: await readFile(join(pulled.rootfs, 'srv', 'hello.txt'), 'utf8'),
    };
  } finally {
    source.close();
    await rm(storeDir, { recursive: true, force: true });
  }
}

test('pullImage through docker-registry: verified, unpacked, in the store', async (t) => {
  const result = await pullFrom(new OciSource(registry.url('pulls')));
  t.is(result.pulled.digest, layout.images.get('files')!.digest);
  t.is(result.stored, result.pulled.rootfs);
  t.is(result.payload, payload);
  t.is(result.hello, 'hello from the registry\n');
});

test('mirrors: a dead first registry fails over to the next', async (t) => {
  const dead = `oci+http://127.0.0.1:${await freePort()}/pulls`;
  const events: string[] = [];
  const source = new OciSource(dead, { mirrors: [registry.url('pulls')], onEvent: (e) => events.push(e.type) });
  const result = await pullFrom(source);
  t.is(result.payload, payload);
  t.true(events.includes('mirror'));
});

/** An HTTP proxy to the registry that cuts the first GET of `digest` after half its bytes. */
async function cuttingProxy(upstream: string, digest: string): Promise<{ url: string; close(): Promise<void>; cuts: number }> {
  const state = { cuts: 0 };
  const [host, port] = upstream.split(':');
  const server: Server = createServer((req, res) => {
    const forward = request({ host, port: Number(port), path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      const cut = req.method === 'GET' && req.url!.endsWith(`/blobs/${digest}`) && !req.headers.range && state.cuts === 0;
      if (!cut) return void up.pipe(res);
      state.cuts++;
      const half = Number(up.headers['content-length']) / 2;
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent >= half) return;
        const part = chunk.subarray(0, Math.max(0, half - sent));
        sent += part.length;
        res.write(part);
        if (sent >= half) {
          up.destroy();
          res.socket?.destroy();
        }
      });
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `oci+http://127.0.0.1:${(server.address() as { port: number }).port}/pulls`,
    get cuts() {
      return state.cuts;
    },
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

test('a layer cut halfway is resumed with Range from the registry', async (t) => {
  const layer = layout.images.get('files')!.layers[0]!;
  const proxy = await cuttingProxy(registry.host, layer.digest);
  try {
    const events: { type: string; offset?: number }[] = [];
    const result = await pullFrom(new OciSource(proxy.url, { onEvent: (e) => events.push(e) }));
    t.is(result.payload, payload);
    t.is(proxy.cuts, 1);
    const resume = events.find((e) => e.type === 'resume');
    t.truthy(resume);
    t.true(resume!.offset! > 0 && resume!.offset! < layer.size);
    // Distribution answered the resumed request with 206 Partial Content.
    t.true(countRequests(registry.requests(), 'GET', new RegExp(`/v2/pulls/blobs/${layer.digest}$`), 206) >= 1);
  } finally {
    await proxy.close();
  }
});

test('bootos pull oci+http://… prints the unpacked root', async (t) => {
  const store = await tempDir('bootos-store-');
  try {
    const { stdout } = await run(process.execPath, [
      join(REPO, 'bin', 'bootos.mjs'), 'pull', 'files', '--registry', registry.url('pulls'),
      '--root', join(layout.dir, 'root.json'), '--channel', 'stable', '--store', store, '--arch', 'x86_64', '--json',
    ]);
    const result = JSON.parse(stdout);
    t.is(result.digest, layout.images.get('files')!.digest);
    t.is(await readFile(join(result.rootfs, 'srv', 'hello.txt'), 'utf8'), 'hello from the registry\n');
  } finally {
    await rm(store, { recursive: true, force: true });
  }
});
