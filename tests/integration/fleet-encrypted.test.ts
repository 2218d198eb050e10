// Encrypted images across the fleet's real parts: `bootos publish --encrypt-to` → `bootos push` into a real
// docker-registry → a device's pull through the real nginx office cache. Proves: the recipient's pull unpacks the
// image and its program runs; the registry's blob files and the cache's files hold no plaintext (a marker that the
// plain control image shows in both); a non-recipient gets IMAGE_NOT_RECIPIENT with nothing fetched or unpacked;
// a tampered blob in the registry leaves nothing; `skopeo copy` carries the encrypted image byte for byte; `bootos
// image rewrap` adds a recipient and the push that follows uploads no layer (only the new channel's blobs).
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { pushRegistry } from '../../fetcher/src/publish/push.js';
import { rewrapImage } from '../../fetcher/src/publish/rewrap.js';
import { OciSource } from '../../fetcher/src/source/oci-source.js';
import { pullImage } from '../../fetcher/src/store/pull.js';
import { Store } from '../../fetcher/src/store/store.js';
import { generateSealKey, type SealKeyPair } from '../../fetcher/src/trust/sealed-box.js';
import { Trust, fetchVerifiedBlob } from '../../fetcher/src/trust/trust.js';
import { countRequests, startDockerRegistry, type DockerRegistry } from '../support/docker-registry.js';
import { filesContaining } from '../support/files-containing.js';
import { startOfficeCache, type OfficeCache } from '../support/office-cache.js';
import { makeImageDir, makeRegistry, testDir, type TestRegistry } from '../support/registry.js';

const run = promisify(execFile);
const SECRET = Buffer.from(`BOOTOS-SECRET-${randomBytes(6).toString('hex')}`);
const PLAIN = Buffer.from(`BOOTOS-PLAIN-${randomBytes(6).toString('hex')}`);

let registry: DockerRegistry;
let cache: OfficeCache;
let layout: TestRegistry;
const publisher = generateSealKey();
const kiosk1 = generateSealKey();
const kiosk2 = generateSealKey();

/** An image whose file holds the marker between random bytes (stored verbatim by deflate), and a program that reads it. */
async function imageWith(name: string, marker: Buffer): Promise<string> {
  const dir = await makeImageDir(
    { 'app/main.js': "const fs = require('fs');\nconsole.log('ran with ' + fs.readFileSync(__dirname + '/../srv/secret.bin').length + ' bytes');\n" },
    `name: ${name}\nversion: 1.0.0\nruntime: node\nentrypoint: [node, /app/main.js]\nfiles:\n  - from: app\n    to: /app\n  - from: srv\n    to: /srv\n`,
  );
  await mkdir(join(dir, 'srv'));
  await writeFile(join(dir, 'srv', 'secret.bin'), Buffer.concat([randomBytes(150_000), marker, randomBytes(150_000)]));
  return dir;
}

test.before(async () => {
  registry = await startDockerRegistry();
  cache = await startOfficeCache(`http://${registry.host}`);
  layout = await makeRegistry({ images: [] });
  await layout.publish(await imageWith('secret', SECRET), { encryptTo: [{ id: 'publisher', seal: publisher.publicKey }, { id: 'kiosk-1', seal: kiosk1.publicKey }] });
  await layout.publish(await imageWith('plain', PLAIN));
  await layout.sign();
  await pushRegistry(layout.dir, registry.url('office'));
});

test.after.always(async () => {
  await cache?.stop();
  await registry?.stop();
  await layout?.cleanup();
});

async function pullAs(t: { teardown(fn: () => unknown): void }, location: string, image: string, key?: SealKeyPair) {
  const source = new OciSource(location);
  const storeDir = await testDir(t, 'bootos-store-');
  try {
    const channel = await (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(source, 'stable');
    const pulled = await pullImage({ source, store: new Store(storeDir), channel: channel.signed, image, arch: 'x86_64', sealKey: key?.privateKey });
    return { pulled, storeDir };
  } catch (err) {
    return { err, storeDir };
  } finally {
    source.close();
  }
}

async function nothingInStore(storeDir: string): Promise<{ roots: string[]; layers: string[] }> {
  const layerDigests = layout.images.get('secret')!.platforms.flatMap((p) => p.layers.map((l) => l.digest.slice(7)));
  const blobs = await readdir(join(storeDir, 'blobs', 'sha256')).catch(() => [] as string[]);
  return { roots: await readdir(join(storeDir, 'roots')).catch(() => []), layers: blobs.filter((b) => layerDigests.includes(b)) };
}

test.serial('a recipient pulls through the office cache and runs it; no plaintext in the registry or the cache', async (t) => {
  const { pulled, err } = await pullAs(t, cache.url('office'), 'secret', kiosk1);
  t.falsy(err, String(err));
  t.true((await readFile(join(pulled!.rootfs, 'srv', 'secret.bin'))).includes(SECRET));
  const child = spawn(process.execPath, [join(pulled!.rootfs, 'app', 'main.js')]);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  t.is(code, 0);
  t.is(out.trim(), `ran with ${300_000 + SECRET.length} bytes`);
  // The plain control went the same way: its marker is in both, so the search would find one.
  t.truthy((await pullAs(t, cache.url('office'), 'plain')).pulled);
  t.true((await filesContaining(registry.storage, PLAIN)).length > 0, 'control: the registry stores the plain layer');
  t.true((await filesContaining(cache.dir, PLAIN)).length > 0, 'control: the cache stores the plain layer');
  t.deepEqual(await filesContaining(registry.storage, SECRET), [], "the registry's blobs");
  t.deepEqual(await filesContaining(cache.dir, SECRET), [], "the cache's files");
});

test.serial('a device that is not a recipient gets IMAGE_NOT_RECIPIENT and nothing is downloaded or unpacked', async (t) => {
  const before = countRequests(registry.requests(), 'GET', /\/blobs\//);
  const { err, storeDir } = await pullAs(t, cache.url('office'), 'secret', kiosk2);
  t.true(isBootosError(err, 'IMAGE_NOT_RECIPIENT'), String(err));
  t.deepEqual(await nothingInStore(storeDir), { roots: [], layers: [] });
  const layerGets = (await cache.accessLog()).filter((l) => layout.images.get('secret')!.layers.some((d) => l.includes(`/blobs/${d.digest}`)));
  t.is(layerGets.length, 1, 'only the first test’s pull fetched the layer');
  t.true(countRequests(registry.requests(), 'GET', /\/blobs\//) >= before);
});

test.serial('a tampered layer blob in the registry is refused and leaves nothing', async (t) => {
  await pushRegistry(layout.dir, registry.url('tamper'));
  const layer = layout.images.get('secret')!.layers[0]!;
  const data = join(registry.storage, 'docker/registry/v2/blobs/sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data');
  const bytes = await readFile(data);
  bytes[70_000]! ^= 1;
  await writeFile(data, bytes);
  try {
    const { err, storeDir } = await pullAs(t, registry.url('tamper'), 'secret', kiosk1);
    t.true(isBootosError(err, 'DIGEST_MISMATCH') || isBootosError(err, 'IMAGE_DECRYPT_FAILED'), String(err));
    t.deepEqual(await nothingInStore(storeDir), { roots: [], layers: [] });
  } finally {
    bytes[70_000]! ^= 1;
    await writeFile(data, bytes);
  }
});

test.serial('skopeo copy carries the encrypted image byte for byte', async (t) => {
  const secret = layout.images.get('secret')!;
  await run('skopeo', ['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${registry.host}/office:secret-1.0.0`, `docker://${registry.host}/copied:secret-1.0.0`]);
  const raw = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/copied:secret-1.0.0`])).stdout;
  t.is(raw, (await readFile(join(layout.dir, blobPath(secret.digest)))).toString());
  const source = new OciSource(registry.url('copied'));
  try {
    const layer = secret.layers[0]!;
    t.deepEqual(await fetchVerifiedBlob(source, layer, 'layer'), await readFile(join(layout.dir, blobPath(layer.digest))));
  } finally {
    source.close();
  }
});

test.serial('rewrap adds a recipient; the push uploads no layer; the new recipient pulls through the cache', async (t) => {
  const before = registry.requests().length;
  await rewrapImage(layout.dir, 'secret', { add: [{ id: 'kiosk-2', seal: kiosk2.publicKey }], key: publisher.privateKey });
  await layout.sign();
  await pushRegistry(layout.dir, registry.url('office'));
  // The blobs that push uploaded (their digest is on the upload's closing PUT): the new channel artifact's, no layer.
  const uploaded = registry.requests().slice(before).flatMap((l) => /"PUT \/v2\/office\/blobs\/uploads\/\S*digest=sha256(?::|%3A)([0-9a-f]{64})/.exec(l)?.[1] ?? []);
  const layers = layout.images.get('secret')!.platforms.flatMap((p) => p.layers.map((l) => l.digest.slice(7)));
  t.deepEqual(uploaded.filter((d) => layers.includes(d)), [], 'no layer uploaded');
  t.true(uploaded.length <= 4, uploaded.join(' '));
  const { pulled, err } = await pullAs(t, cache.url('office'), 'secret', kiosk2);
  t.falsy(err, String(err));
  t.true((await readFile(join(pulled!.rootfs, 'srv', 'secret.bin'))).includes(SECRET));
  t.deepEqual(await filesContaining(cache.dir, SECRET), []);
});
