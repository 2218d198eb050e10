// What this file proves: the device refuses every attack The Update Framework lists that applies to bootos.
// Each case starts from a valid, really signed registry and changes one thing; each asserts the coded error.
import test from 'ava';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalBytes } from '../../fetcher/src/core/canonical-json.js';
import { isBootosError, type ErrorCode } from '../../fetcher/src/core/error.js';
import { generateKey, signBytes } from '../../fetcher/src/trust/keys.js';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { resolveImage } from '../../fetcher/src/trust/resolve.js';
import { initRoot, rotateRoot } from '../../fetcher/src/publish/signer.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { isoTime, type Channel, type ChannelSigned } from '../../fetcher/src/formats/trust-docs.js';
import { sign } from '../../fetcher/src/publish/signer.js';
import { fetchVerifiedBlob, Trust } from '../../fetcher/src/trust/trust.js';
import { makeRegistry, tempDir, type TestRegistry } from '../support/registry.js';
import { runCli } from '../support/cli.js';

async function channelOf(reg: TestRegistry, name = 'stable'): Promise<Channel> {
  return JSON.parse(await readFile(join(reg.dir, 'channels', `${name}.json`), 'utf8')) as Channel;
}

async function writeChannel(reg: TestRegistry, doc: unknown, name = 'stable'): Promise<void> {
  await writeFile(join(reg.dir, 'channels', `${name}.json`), JSON.stringify(doc));
}

async function expectCode(t: import('ava').ExecutionContext, promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await t.throwsAsync(promise);
  t.true(isBootosError(err, code), `expected ${code}, got ${(err as { code?: string }).code}: ${err?.message}`);
}

async function verifyChannel(reg: TestRegistry, options: { stateDir?: string; now?: () => number } = {}) {
  const trust = await Trust.open({ initialRoot: reg.rootBytes, ...options });
  return trust.fetchChannel(new DirSource(reg.dir), 'stable');
}

function resign(signed: ChannelSigned, keys = [generateKey()]): Channel {
  return sign(signed, keys);
}

test('a valid registry verifies', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const channel = await verifyChannel(reg);
  t.is(channel.signed.version, 1);
  const image = await resolveImage(new DirSource(reg.dir), channel.signed, 'hello', 'x86_64');
  t.is(image.config.name, 'hello');
});

test('arbitrary software: signed bytes tampered → SIGNATURE_INVALID', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const doc = await channelOf(reg);
  doc.signed.images.hello!.digest = `sha256:${'0'.repeat(64)}`;
  await writeChannel(reg, doc);
  await expectCode(t, verifyChannel(reg), 'SIGNATURE_INVALID');
});

test('arbitrary software: signature by a key the root does not list → UNKNOWN_KEY', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const doc = await channelOf(reg);
  await writeChannel(reg, resign(doc.signed));
  await expectCode(t, verifyChannel(reg), 'UNKNOWN_KEY');
});

test('threshold 2 with one valid signature, and with the same key twice → THRESHOLD_NOT_MET', async (t) => {
  const base = await tempDir();
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const a = generateKey();
  const b = generateKey();
  const registry = join(base, 'registry');
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  await initRoot({ registry, keys: [a.publicKey, b.publicKey], threshold: 2, signers: [a, b], expiresMs: 86_400_000 });
  const rootBytes = await readFile(join(registry, 'root.json'));
  const signed = (await channelOf(reg)).signed;
  await mkdir(join(registry, 'channels'), { recursive: true });
  const trust = async (doc: Channel) => {
    await writeFile(join(registry, 'channels', 'stable.json'), JSON.stringify(doc));
    return (await Trust.open({ initialRoot: rootBytes })).fetchChannel(new DirSource(registry), 'stable');
  };
  await expectCode(t, trust(sign(signed, [a])), 'THRESHOLD_NOT_MET');
  const once = sign(signed, [a]);
  await expectCode(t, trust({ signed, signatures: [once.signatures[0]!, once.signatures[0]!] }), 'THRESHOLD_NOT_MET');
  const both = await trust(sign(signed, [a, b]));
  t.is(both.signed.version, 1);
});

test('freeze: an expired channel → EXPIRED', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  await reg.sign(undefined, { expiresMs: 60_000 });
  await expectCode(t, verifyChannel(reg, { now: () => Date.now() + 120_000 }), 'EXPIRED');
});

test('rollback: a lower channel version is refused, with the state persisted between two CLI runs', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const state = join(reg.dir, '..', 'device-state');
  const rootFile = join(reg.dir, 'root.json');
  const v1 = await readFile(join(reg.dir, 'channels', 'stable.json'));
  await reg.sign(); // version 2
  const first = await runCli(['verify', '--registry', reg.dir, '--root', rootFile, '--channel', 'stable', '--state', state]);
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout.trim(), '2');
  await writeFile(join(reg.dir, 'channels', 'stable.json'), v1); // an attacker replays version 1
  const second = await runCli(['verify', '--registry', reg.dir, '--root', rootFile, '--channel', 'stable', '--state', state]);
  t.is(second.code, 1);
  t.regex(second.stderr, /error ROLLBACK:/);
  // Without the persisted state the old version would pass: the state is what stops it.
  const fresh = await runCli(['verify', '--registry', reg.dir, '--root', rootFile, '--channel', 'stable']);
  t.is(fresh.code, 0, fresh.stderr);
});

test('mix-and-match: a blob whose digest differs from the signed digest → DIGEST_MISMATCH', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const channel = await verifyChannel(reg);
  const pinned = channel.signed.images.hello!;
  const path = join(reg.dir, blobPath(pinned.digest));
  const bytes = await readFile(path);
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 2) ^ 1, bytes.length - 2); // same size, other bytes
  await writeFile(path, bytes);
  await expectCode(t, resolveImage(new DirSource(reg.dir), channel.signed, 'hello'), 'DIGEST_MISMATCH');
});

test('endless data: a blob longer than its signed size → SIZE_MISMATCH, reading no more than the signed size + 1', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const channel = await verifyChannel(reg);
  const pinned = channel.signed.images.hello!;
  const path = join(reg.dir, blobPath(pinned.digest));
  await writeFile(path, Buffer.concat([await readFile(path), Buffer.alloc(10 * 1024 * 1024, 0x20)]));
  let largest = 0;
  const source = new DirSource(reg.dir);
  const spy = {
    location: source.location,
    get: async (p: string, max: number) => ((largest = Math.max(largest, max)), source.get(p, max)),
    blob: source.blob.bind(source),
    getIfChanged: source.getIfChanged.bind(source),
    close: () => {},
  };
  await expectCode(t, fetchVerifiedBlob(spy, pinned, 'hello index'), 'SIZE_MISMATCH');
  t.is(largest, pinned.size);
});

test('endless data: a channel document over the size cap → DOCUMENT_TOO_LARGE', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const doc = await channelOf(reg);
  await writeFile(join(reg.dir, 'channels', 'stable.json'), JSON.stringify(doc) + ' '.repeat(2 * 1024 * 1024));
  await expectCode(t, verifyChannel(reg), 'DOCUMENT_TOO_LARGE');
  // the cap is configurable, and the check uses it
  await writeChannel(reg, doc);
  const trust = await Trust.open({ initialRoot: reg.rootBytes, limits: { maxChannelBytes: 100 } });
  await expectCode(t, trust.fetchChannel(new DirSource(reg.dir), 'stable'), 'DOCUMENT_TOO_LARGE');
});

test('root rotation: accepted when signed by the old threshold and the new root; refused when signed by the new keys only', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const newKey = generateKey();
  const oldRoot = reg.rootBytes;
  // Refused: a root version 2 signed by the new key only (written by hand: the signer refuses to make it).
  const forged = JSON.parse(oldRoot.toString());
  forged.signed.version = 2;
  forged.signed.keys = { [newKey.keyid]: newKey.publicKey.toString('base64') };
  forged.signed.roles = { root: { keyids: [newKey.keyid], threshold: 1 }, channel: { keyids: [newKey.keyid], threshold: 1 } };
  forged.signatures = [{ keyid: newKey.keyid, sig: signBytes(newKey, canonicalBytes(forged.signed)) }];
  await mkdir(join(reg.dir, 'roots'), { recursive: true });
  await writeFile(join(reg.dir, 'roots', '2.root.json'), JSON.stringify(forged));
  await expectCode(t, verifyChannel(reg), 'UNKNOWN_KEY');
  await rm(join(reg.dir, 'roots', '2.root.json'));

  // Accepted: signed by the old key and the new one; the channel is then signed by the new key.
  await rotateRoot({ registry: reg.dir, keys: [newKey.publicKey], threshold: 1, signers: [reg.key, newKey], expiresMs: 86_400_000 });
  await reg.sign(undefined, { signers: [newKey] });
  const state = join(reg.dir, '..', 'rotation-state');
  const trust = await Trust.open({ initialRoot: oldRoot, stateDir: state });
  const channel = await trust.fetchChannel(new DirSource(reg.dir), 'stable');
  t.is(trust.trustedRoot.signed.version, 2);
  t.is(channel.signed.version, 2);
  // The old key alone no longer signs channels.
  await reg.sign(undefined, { signers: [reg.key] }).then(
    () => t.fail('the signer must refuse a channel the root would refuse'),
    (err) => t.true(isBootosError(err, 'UNKNOWN_KEY')),
  );
  // The rotated root persisted: a new Trust from the same state starts at version 2.
  t.is((await Trust.open({ initialRoot: oldRoot, stateDir: state })).trustedRoot.signed.version, 2);
});

test('inconsistent channel: an image named in a profile but absent from the channel → PROFILE_UNKNOWN_IMAGE', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const doc = await channelOf(reg);
  doc.signed.profiles.office!.push('calc');
  await writeChannel(reg, sign(doc.signed, [reg.key]));
  await expectCode(t, verifyChannel(reg), 'PROFILE_UNKNOWN_IMAGE');
});

test('mix-and-match across channels: a valid document of another channel → CHANNEL_NAME_MISMATCH', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const doc = await channelOf(reg);
  await writeChannel(reg, sign({ ...doc.signed, name: 'beta' }, [reg.key]));
  await expectCode(t, verifyChannel(reg), 'CHANNEL_NAME_MISMATCH');
});

test('an image the channel does not name is refused → IMAGE_NOT_IN_CHANNEL', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const channel = await verifyChannel(reg);
  await expectCode(t, resolveImage(new DirSource(reg.dir), channel.signed, 'calc'), 'IMAGE_NOT_IN_CHANNEL');
});

test('an expired root → EXPIRED, even with a valid channel', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  // the test root lives 30 days; the channel 7: move the clock past the channel to the root's end
  await reg.sign(undefined, { expiresMs: 40 * 86_400_000 });
  await expectCode(t, verifyChannel(reg, { now: () => Date.now() + 31 * 86_400_000 }), 'EXPIRED');
  t.is(isoTime(Date.parse('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05Z');
});
