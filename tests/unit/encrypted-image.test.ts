// Proves, for encrypted images (publish --encrypt-to, image rewrap, pull with a sealing key), in-process on a
// registry directory with real crypto: the layer cipher round-trips at every segment boundary and refuses an altered,
// cut, reordered or extended ciphertext (IMAGE_DECRYPT_FAILED); sealed boxes open only for their recipient; the
// registry holds no plaintext (a marker found in the plain control is in no encrypted blob) while the config and the
// unencrypted digest stay reproducible; a recipient pulls, a non-recipient or a device without a key gets
// IMAGE_NOT_RECIPIENT with nothing fetched or unpacked; tampered ciphertext leaves nothing (DIGEST_MISMATCH, or
// IMAGE_DECRYPT_FAILED when the digest chain was re-made over it); rewrap adds a recipient without a layer blob;
// a device removed and then left out of a fresh publish cannot read the new image.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { ENC_KEYS_ANNOTATION, readLayerKeys } from '../../fetcher/src/formats/layer-encryption.js';
import { blobPath, readManifest } from '../../fetcher/src/formats/oci.js';
import { addToIndex } from '../../fetcher/src/publish/layout.js';
import { publishImage } from '../../fetcher/src/publish/publish.js';
import { rewrapImage } from '../../fetcher/src/publish/rewrap.js';
import { rewriteImage } from '../../fetcher/src/publish/rewrite-image.js';
import { resolveRecipients, type Recipient } from '../../fetcher/src/publish/recipients.js';
import { openSource } from '../../fetcher/src/source/open-source.js';
import { LayerDecipher, LayerEncipher, SEGMENT_BYTES, sealedSize } from '../../fetcher/src/store/layer-cipher.js';
import { pullImage } from '../../fetcher/src/store/pull.js';
import { Store } from '../../fetcher/src/store/store.js';
import { generateSealKey, openSealed, seal, type SealKeyPair } from '../../fetcher/src/trust/sealed-box.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { filesContaining } from '../support/files-containing.js';
import { makeImageDir, makeRegistry, testDir, type TestRegistry } from '../support/registry.js';

async function run(input: Buffer, transform: NodeJS.ReadWriteStream, piece = 7777): Promise<Buffer> {
  const out: Buffer[] = [];
  const chunks = function* () {
    for (let i = 0; i < input.length; i += piece) yield input.subarray(i, i + piece);
  };
  await pipeline(Readable.from(chunks()), transform, new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) }));
  return Buffer.concat(out);
}

const key = randomBytes(32);
const encrypt = (plain: Buffer) => run(plain, new LayerEncipher(key));
const decrypt = (sealed: Buffer, piece?: number) => run(sealed, new LayerDecipher(key, 'test layer'), piece);

test('the layer cipher round-trips at every segment boundary, in any chunking', async (t) => {
  for (const size of [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES, 200_000]) {
    const plain = randomBytes(size);
    const sealed = await encrypt(plain);
    t.is(sealed.length, sealedSize(size), `size ${size}`);
    t.deepEqual(await decrypt(sealed, 1000), plain, `size ${size}`);
    t.deepEqual(await decrypt(sealed, 1 << 20), plain, `size ${size}`);
  }
});

test('the layer cipher refuses altered, cut, reordered and extended ciphertext', async (t) => {
  const plain = randomBytes(3 * SEGMENT_BYTES + 500);
  const sealed = await encrypt(plain);
  const seg = SEGMENT_BYTES + 16;
  const flipped = Buffer.from(sealed);
  flipped[seg + 10]! ^= 1;
  const swapped = Buffer.concat([sealed.subarray(seg, 2 * seg), sealed.subarray(0, seg), sealed.subarray(2 * seg)]);
  const cases: [string, Buffer][] = [
    ['a flipped bit', flipped],
    ['cut at a segment boundary', sealed.subarray(0, 2 * seg)],
    ['cut inside a segment', sealed.subarray(0, sealed.length - 100)],
    ['cut to a few bytes', sealed.subarray(0, 5)],
    ['two segments swapped', swapped],
    ['bytes appended', Buffer.concat([sealed, randomBytes(40)])],
    ['another key', await run(plain, new LayerEncipher(randomBytes(32)))],
  ];
  for (const [what, bytes] of cases) {
    const err = await t.throwsAsync(decrypt(bytes), undefined, what);
    t.true(isBootosError(err, 'IMAGE_DECRYPT_FAILED'), `${what}: ${err?.message}`);
  }
});

test('a sealed box opens only with its recipient key, and not once altered', (t) => {
  const alice = generateSealKey();
  const bob = generateSealKey();
  const message = randomBytes(32);
  const box = seal(message, alice.publicKey);
  t.deepEqual(openSealed(box, alice.privateKey), message);
  t.is(openSealed(box, bob.privateKey), null);
  const altered = { ...box, box: Buffer.from(box.box) };
  altered.box[3]! ^= 1;
  t.is(openSealed(altered, alice.privateKey), null);
  t.is(openSealed({ epk: bob.publicKey, box: box.box }, alice.privateKey), null);
  // A low-order public key (here all zeros) gives an all-zero shared secret: refused, never used as a key.
  t.throws(() => seal(message, Buffer.alloc(32)), { instanceOf: Error });
});

test('recipients: ID=KEY, an enrolment-shaped JSON file; anything else is a usage error', async (t) => {
  const dir = await testDir(t);
  const a = generateSealKey();
  const b = generateSealKey();
  const file = join(dir, 'request.json');
  await writeFile(file, JSON.stringify({ id: '0123abcd', keys: { seal: b.publicKey.toString('base64'), sign: 'x' } }));
  const got = await resolveRecipients([`kiosk-1=${a.publicKey.toString('base64')}`, file]);
  t.deepEqual(got.map((r) => [r.id, r.seal.toString('base64')]), [['kiosk-1', a.publicKey.toString('base64')], ['0123abcd', b.publicKey.toString('base64')]]);
  for (const bad of ['office-group', 'x=notbase64', `a b=${a.publicKey.toString('base64')}`]) {
    const err = await t.throwsAsync(resolveRecipients([bad]));
    t.true(isBootosError(err, 'USAGE') || isBootosError(err, 'KEY_INVALID'), `${bad}: ${err?.message}`);
  }
});

// --- images -----------------------------------------------------------------------------------------------------

const MARKER = Buffer.from(`BOOTOS-PLAINTEXT-MARKER-${randomBytes(6).toString('hex')}`);

/** An image whose file holds the marker between random bytes: deflate stores it verbatim, so a plain layer shows it. */
async function secretImage(version = '1.0.0'): Promise<string> {
  const dir = await makeImageDir({}, `name: secret\nversion: ${version}\nruntime: node\nentrypoint: [node, -e, "0"]\nfiles:\n  - from: srv\n    to: /srv\n`);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(dir, 'srv'));
  await writeFile(join(dir, 'srv', 'secret.bin'), Buffer.concat([randomBytes(100_000), MARKER, randomBytes(100_000)]));
  return dir;
}

const asRecipient = (id: string, pair: SealKeyPair): Recipient => ({ id, seal: pair.publicKey });

async function pullAs(registry: TestRegistry, storeDir: string, sealKey?: SealKeyPair) {
  const source = openSource(registry.dir);
  try {
    const channel = (await (await Trust.open({ initialRoot: registry.rootBytes })).fetchChannel(source, 'stable')).signed;
    return await pullImage({ source, store: new Store(storeDir), channel, image: 'secret', arch: 'x86_64', sealKey: sealKey?.privateKey });
  } finally {
    source.close();
  }
}

/** Nothing of an image was unpacked or committed: no root, no staging entry, no layer blob. */
async function nothingUnpacked(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, storeDir: string, layerDigests: string[]) {
  t.deepEqual(await readdir(join(storeDir, 'roots')).catch(() => []), [], 'no root');
  t.deepEqual((await readdir(join(storeDir, 'tmp')).catch(() => [])).filter((n) => n.startsWith('root-')), [], 'no staging root');
  const blobs = await readdir(join(storeDir, 'blobs', 'sha256')).catch(() => [] as string[]);
  t.deepEqual(layerDigests.filter((d) => blobs.includes(d.slice(7))), [], 'no layer blob');
}

async function blobNames(dir: string): Promise<Set<string>> {
  return new Set(await readdir(join(dir, 'blobs', 'sha256')));
}

test('publish --encrypt-to: no plaintext in the registry, the config and the unencrypted digest reproducible; the recipient pulls', async (t) => {
  const device = generateSealKey();
  const imageDir = await secretImage();
  const plain = await makeRegistry({ images: [imageDir] });
  const registry = await makeRegistry({ images: [] });
  t.teardown(() => Promise.all([plain.cleanup(), registry.cleanup()]));
  const result = await registry.publish(imageDir, { encryptTo: [asRecipient('kiosk-1', device)] });
  await registry.sign();

  t.true((await filesContaining(plain.dir, MARKER)).length > 0, 'the control: a plain layer shows the marker');
  t.deepEqual(await filesContaining(registry.dir, MARKER), [], 'no encrypted blob does');
  const plainResult = plain.images.get('secret')!;
  t.is(result.encrypted?.plainDigest, plainResult.digest, 'the unencrypted digest is the plain publish’s');
  t.not(result.digest, plainResult.digest);
  const manifest = readManifest(JSON.parse(await readFile(join(registry.dir, blobPath(result.manifest.digest)), 'utf8')));
  const plainManifest = readManifest(JSON.parse(await readFile(join(plain.dir, blobPath(plainResult.manifest.digest)), 'utf8')));
  t.deepEqual(manifest.config, plainManifest.config, 'the same config blob (diff_ids of the plain layers)');
  t.is(manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted');
  t.deepEqual(readLayerKeys(manifest.layers[0]!.annotations, 'layer').recipients.map((r) => r.id), ['kiosk-1']);
  // Both platforms of the `any` image share the one ciphertext layer.
  t.is(result.platforms[0]!.layers[0]!.digest, result.platforms[1]!.layers[0]!.digest);

  const storeDir = await testDir(t, 'bootos-store-');
  const pulled = await pullAs(registry, storeDir, device);
  t.true((await readFile(join(pulled.rootfs, 'srv', 'secret.bin'))).includes(MARKER));
  // The store keeps the layer as ciphertext.
  t.deepEqual((await filesContaining(join(storeDir, 'blobs'), MARKER)), []);
});

test('a device that is not a recipient, or has no sealing key, gets IMAGE_NOT_RECIPIENT and nothing is fetched or unpacked', async (t) => {
  const device = generateSealKey();
  const registry = await makeRegistry({ images: [] });
  t.teardown(() => registry.cleanup());
  const result = await registry.publish(await secretImage(), { encryptTo: [asRecipient('kiosk-1', device)] });
  await registry.sign();
  const layers = result.layers.map((l) => l.digest);
  for (const [what, key] of [['another device', generateSealKey()], ['no key', undefined]] as const) {
    const storeDir = await testDir(t, 'bootos-store-');
    const err = await t.throwsAsync(pullAs(registry, storeDir, key));
    t.true(isBootosError(err, 'IMAGE_NOT_RECIPIENT'), `${what}: ${err?.message}`);
    await nothingUnpacked(t, storeDir, layers);
  }
});

test('tampered ciphertext leaves nothing: DIGEST_MISMATCH in the registry, IMAGE_DECRYPT_FAILED under a re-made digest chain', async (t) => {
  const device = generateSealKey();
  const registry = await makeRegistry({ images: [] });
  t.teardown(() => registry.cleanup());
  const result = await registry.publish(await secretImage(), { encryptTo: [asRecipient('kiosk-1', device)] });
  await registry.sign();
  const layerFile = join(registry.dir, blobPath(result.layers[0]!.digest));
  const original = await readFile(layerFile);
  const flipped = Buffer.from(original);
  flipped[SEGMENT_BYTES + 100]! ^= 1;

  await writeFile(layerFile, flipped);
  let storeDir = await testDir(t, 'bootos-store-');
  let err = await t.throwsAsync(pullAs(registry, storeDir, device));
  t.true(isBootosError(err, 'DIGEST_MISMATCH'), err?.message);
  await nothingUnpacked(t, storeDir, [result.layers[0]!.digest]);
  await writeFile(layerFile, original);

  // The altered bytes under their own digest, in a manifest and index signed again (as a publisher's mistake, or a
  // sealed key moved to the wrong layer, would give): the digests match and the cipher still refuses.
  const rewritten = await rewriteImage(registry.dir, result.digest, registry.dir, async (layer) => {
    const digest = `sha256:${createHash('sha256').update(flipped).digest('hex')}`;
    await writeFile(join(registry.dir, blobPath(digest)), flipped);
    return { ...layer, digest, size: flipped.length };
  });
  await addToIndex(registry.dir, 'secret', '1.0.0', rewritten.index);
  await registry.sign();
  storeDir = await testDir(t, 'bootos-store-');
  err = await t.throwsAsync(pullAs(registry, storeDir, device));
  t.true(isBootosError(err, 'IMAGE_DECRYPT_FAILED'), err?.message);
  await nothingUnpacked(t, storeDir, [rewritten.platforms[0]!.layers[0]!.digest]);
});

test('rewrap adds a recipient without a layer blob; after a removal a fresh publish is out of the removed device’s reach', async (t) => {
  const publisher = generateSealKey();
  const kiosk1 = generateSealKey();
  const kiosk2 = generateSealKey();
  const registry = await makeRegistry({ images: [] });
  t.teardown(() => registry.cleanup());
  const first = await registry.publish(await secretImage(), { encryptTo: [asRecipient('publisher', publisher), asRecipient('kiosk-1', kiosk1)] });
  await registry.sign();
  const before = await blobNames(registry.dir);

  const err = await t.throwsAsync(rewrapImage(registry.dir, 'secret', { add: [asRecipient('kiosk-2', kiosk2)], key: kiosk2.privateKey }));
  t.true(isBootosError(err, 'IMAGE_NOT_RECIPIENT'), 'a key that is not a recipient opens nothing');
  const added = await rewrapImage(registry.dir, 'secret', { add: [asRecipient('kiosk-2', kiosk2)], key: publisher.privateKey });
  t.deepEqual(added.recipients, ['publisher', 'kiosk-1', 'kiosk-2']);
  t.is(added.previousDigest, first.digest);
  const fresh = [...(await blobNames(registry.dir))].filter((n) => !before.has(n));
  t.is(fresh.length, 3, 'two manifests and one index, no layer');
  for (const name of fresh) t.regex(JSON.parse(await readFile(join(registry.dir, 'blobs', 'sha256', name), 'utf8')).mediaType, /manifest|index/);
  await registry.sign();
  const pulled = await pullAs(registry, await testDir(t, 'bootos-store-'), kiosk2);
  t.true((await readFile(join(pulled.rootfs, 'srv', 'secret.bin'))).includes(MARKER));

  // kiosk-1 is revoked: dropped from the list, then version 2 is published with fresh keys and without it.
  const removed = await rewrapImage(registry.dir, 'secret', { remove: ['kiosk-1'] });
  t.deepEqual(removed.recipients, ['publisher', 'kiosk-2']);
  const typo = await t.throwsAsync(rewrapImage(registry.dir, 'secret', { remove: ['kiosk-9'] }));
  t.true(isBootosError(typo, 'USAGE'));
  await registry.publish(await secretImage('2.0.0'), { encryptTo: [asRecipient('publisher', publisher), asRecipient('kiosk-2', kiosk2)] });
  await registry.sign();
  const revoked = await t.throwsAsync(pullAs(registry, await testDir(t, 'bootos-store-'), kiosk1));
  t.true(isBootosError(revoked, 'IMAGE_NOT_RECIPIENT'), revoked?.message);
  t.is((await pullAs(registry, await testDir(t, 'bootos-store-'), kiosk2)).config.version, '2.0.0');
  const manifest = readManifest(JSON.parse(await readFile(join(registry.dir, blobPath(registry.images.get('secret')!.manifest.digest)), 'utf8')));
  t.false(manifest.layers[0]!.annotations![ENC_KEYS_ANNOTATION]!.includes(kiosk1.publicKey.toString('base64')));
});

test('publishing the same folder encrypted twice gives new ciphertext and the same unencrypted digest', async (t) => {
  const device = generateSealKey();
  const imageDir = await secretImage();
  const dir = await testDir(t);
  const a = await publishImage(imageDir, join(dir, 'a'), { encryptTo: [asRecipient('d', device)] });
  const b = await publishImage(imageDir, join(dir, 'b'), { encryptTo: [asRecipient('d', device)] });
  t.is(a.encrypted!.plainDigest, b.encrypted!.plainDigest);
  t.not(a.layers[0]!.digest, b.layers[0]!.digest);
});
