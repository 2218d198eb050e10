// The office cache (docs/fleet.md): real nginx, configured by `bootos cache config`, in front of a real
// docker-registry. Proves: the second pull of an image is served from the cache (X-Cache-Status: HIT) and the registry
// sends each blob once; trust documents are revalidated with the registry on every request (REVALIDATED, 304), so a
// new channel version is seen at once through the cache; Range requests (resume) are served from the cache.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fetch from 'node-fetch';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { OciSource } from '../../fetcher/src/source/oci-source.js';
import { pushRegistry } from '../../fetcher/src/publish/push.js';
import { OCI_MEDIA_ACCEPT } from '../../fetcher/src/source/oci-client.js';
import { resolveImage } from '../../fetcher/src/trust/resolve.js';
import { Trust, fetchVerifiedBlob } from '../../fetcher/src/trust/trust.js';
import { countRequests, startDockerRegistry, type DockerRegistry } from '../support/docker-registry.js';
import { startOfficeCache, type OfficeCache } from '../support/office-cache.js';
import { makeRegistry, type TestRegistry } from '../support/registry.js';

let registry: DockerRegistry;
let cache: OfficeCache;
let layout: TestRegistry;

test.before(async () => {
  registry = await startDockerRegistry();
  cache = await startOfficeCache(`http://${registry.host}`);
  layout = await makeRegistry();
  await pushRegistry(layout.dir, registry.url('office'));
});

test.after.always(async () => {
  await cache?.stop();
  await registry?.stop();
  await layout?.cleanup();
});

/** What a device does: verify the channel, resolve the image, read its layer; every hop through the cache. */
async function pull(): Promise<{ version: number; layerDigest: string }> {
  const source = new OciSource(cache.url('office'));
  try {
    const channel = await (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(source, 'stable');
    const image = await resolveImage(source, channel.signed, 'hello', 'x86_64');
    const layer = image.manifest.layers[0]!;
    await fetchVerifiedBlob(source, layer, 'hello layer');
    return { version: channel.signed.version, layerDigest: layer.digest };
  } finally {
    source.close();
  }
}

/** Cache statuses of the requests devices made for `path` (not the inner revalidation hop on the unix socket). */
const cacheStatus = (lines: string[], path: RegExp) =>
  lines
    .filter((l) => !l.startsWith('unix:') && path.test(/"\w+ (\S+)/.exec(l)?.[1] ?? ''))
    .map((l) => /cache=(\S*)/.exec(l)?.[1] ?? '');

test.serial('second pull comes from the cache; trust documents are revalidated every time', async (t) => {
  const first = await pull();
  const second = await pull();
  t.is(first.version, 1);
  t.is(second.layerDigest, first.layerDigest);

  const log = await cache.accessLog();
  const layer = first.layerDigest;
  t.deepEqual(cacheStatus(log, new RegExp(`/blobs/${layer}$`)), ['MISS', 'HIT']);
  const hello = layout.images.get('hello')!;
  t.deepEqual(cacheStatus(log, new RegExp(`/blobs/${hello.digest}$`)), ['MISS', 'HIT']);
  // The registry sent each blob once, however many pulls.
  t.is(countRequests(registry.requests(), 'GET', new RegExp(`/v2/office/blobs/${layer}$`)), 1);
  t.is(countRequests(registry.requests(), 'GET', new RegExp(`/v2/office/blobs/${hello.digest}$`)), 1);
  // Trust documents: stored, but revalidated with the registry on every request (a 304 the second time).
  t.deepEqual(cacheStatus(log, /\/manifests\/channel-stable$/), ['MISS', 'REVALIDATED']);
  // "Is there a root 2?" is asked every time too, and never answered from the cache (a 404 is not stored).
  t.deepEqual(cacheStatus(log, /\/manifests\/root-2$/), ['MISS', 'MISS']);
  t.is(countRequests(registry.requests(), 'GET', /\/v2\/office\/manifests\/channel-stable$/, 200), 1);
  t.is(countRequests(registry.requests(), 'GET', /\/v2\/office\/manifests\/channel-stable$/, 304), 1);
});

test.serial('X-Cache-Status on the wire: HIT for a blob, REVALIDATED for a tag; Range served from the cache', async (t) => {
  await pull();
  const layer = layout.images.get('hello')!.layers[0]!;
  const base = `http://${cache.host}/v2/office`;
  const blob = await fetch(`${base}/blobs/${layer.digest}`);
  t.is(blob.headers.get('x-cache-status'), 'HIT');
  const bytes = await readFile(join(layout.dir, blobPath(layer.digest)));
  t.deepEqual(Buffer.from(await blob.arrayBuffer()), bytes);
  const part = await fetch(`${base}/blobs/${layer.digest}`, { headers: { range: 'bytes=100-' } });
  t.is(part.status, 206);
  t.is(part.headers.get('x-cache-status'), 'HIT');
  t.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100));
  // The same Accept as devices send: the cache keys tags by it.
  const tag = await fetch(`${base}/manifests/channel-stable`, { headers: { accept: OCI_MEDIA_ACCEPT.join(', ') } });
  await tag.arrayBuffer();
  t.is(tag.headers.get('x-cache-status'), 'REVALIDATED');
});

test.serial('a new channel pushed to the central registry is seen through the cache at once', async (t) => {
  t.is((await pull()).version, 1);
  await layout.sign();
  await pushRegistry(layout.dir, registry.url('office'));
  t.is((await pull()).version, 2);
});
