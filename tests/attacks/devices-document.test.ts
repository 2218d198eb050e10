// What this file proves: the devices document is held to the channel's checks. A document rolled back, expired,
// signed by a key that is not of the root's devices role, altered after signing, or under the threshold is refused
// with the trust suite's codes (ROLLBACK, EXPIRED, UNKNOWN_KEY, SIGNATURE_INVALID, THRESHOLD_NOT_MET); an old root
// without a devices role still verifies its channels and trusts no devices document. Each case starts from a really
// signed registry and changes one thing.
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { isBootosError, type ErrorCode } from '../../fetcher/src/core/error.js';
import { generateKey, type SecretKey } from '../../fetcher/src/trust/keys.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { rotateRoot, sign } from '../../fetcher/src/publish/signer.js';
import { enrollDevice, revokeDevice } from '../../fetcher/src/publish/devices-signer.js';
import { deviceIdOf, DEVICES_PATH, type DeviceEntry, type DevicesDocument } from '../../fetcher/src/formats/devices-doc.js';
import { readRoot, type Root } from '../../fetcher/src/formats/trust-docs.js';
import { makeRegistry, testDir, type TestRegistry } from '../support/registry.js';

const DAY = 86_400_000;

function newEntry(): DeviceEntry {
  const raw = (type: 'ed25519' | 'x25519') => Buffer.from(generateKeyPairSync(type as 'ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const signKey = raw('ed25519');
  return { id: deviceIdOf(signKey), keys: { sign: signKey.toString('base64'), seal: raw('x25519').toString('base64') }, groups: ['lab'], expires: new Date(Date.now() + 30 * DAY).toISOString().replace(/\.\d+Z$/, 'Z') };
}

async function enrol(reg: TestRegistry, entry = newEntry(), options: { signers?: SecretKey[]; expiresMs?: number; now?: number } = {}): Promise<DevicesDocument> {
  return enrollDevice({ registry: reg.dir, signers: options.signers ?? [reg.key], expiresMs: options.expiresMs ?? 7 * DAY, now: options.now, entry });
}

async function expectCode(t: import('ava').ExecutionContext, promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await t.throwsAsync(promise);
  t.true(isBootosError(err, code), `expected ${code}, got ${(err as { code?: string }).code}: ${err?.message}`);
}

async function registry(t: import('ava').ExecutionContext): Promise<TestRegistry> {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  return reg;
}

async function openTrust(reg: TestRegistry, options: { stateDir?: string; now?: () => number } = {}): Promise<Trust> {
  const trust = await Trust.open({ initialRoot: reg.rootBytes, ...options });
  await trust.updateRoot(new DirSource(reg.dir));
  return trust;
}

test('a validly signed devices document verifies, and the device finds itself in it', async (t) => {
  const reg = await registry(t);
  const entry = newEntry();
  await enrol(reg, entry);
  const doc = await (await openTrust(reg)).fetchDevices(new DirSource(reg.dir));
  t.is(doc?.signed.version, 1);
  t.deepEqual(doc?.signed.devices.map((d) => d.id), [entry.id]);
});

test('rollback: a devices document older than one seen before (across a restart) → ROLLBACK', async (t) => {
  const reg = await registry(t);
  const stateDir = join(await testDir(t), 'state');
  await enrol(reg);
  const old = await readFile(join(reg.dir, DEVICES_PATH));
  const revoked = newEntry();
  await enrol(reg, revoked);
  await revokeDevice({ registry: reg.dir, signers: [reg.key], expiresMs: 7 * DAY, id: revoked.id });
  t.is((await (await openTrust(reg, { stateDir })).fetchDevices(new DirSource(reg.dir)))?.signed.version, 3);
  // A mirror serves version 1 again, from before the revocation: the revoked device is not in its revoked list.
  await writeFile(join(reg.dir, DEVICES_PATH), old);
  await expectCode(t, (await openTrust(reg, { stateDir })).fetchDevices(new DirSource(reg.dir)), 'ROLLBACK');
});

test('freeze: an expired devices document → EXPIRED', async (t) => {
  const reg = await registry(t);
  await enrol(reg, newEntry(), { now: Date.now() - 8 * DAY, expiresMs: 7 * DAY });
  await expectCode(t, (await openTrust(reg)).fetchDevices(new DirSource(reg.dir)), 'EXPIRED');
});

test('arbitrary enrolment: a devices document signed by a key the root does not list → UNKNOWN_KEY', async (t) => {
  const reg = await registry(t);
  const doc = await enrol(reg);
  await writeFile(join(reg.dir, DEVICES_PATH), JSON.stringify(sign({ ...doc.signed, version: 2 }, [generateKey()])));
  await expectCode(t, (await openTrust(reg)).fetchDevices(new DirSource(reg.dir)), 'UNKNOWN_KEY');
});

test('arbitrary enrolment: a device added after signing → SIGNATURE_INVALID', async (t) => {
  const reg = await registry(t);
  const doc = await enrol(reg);
  doc.signed.devices.push(newEntry());
  await writeFile(join(reg.dir, DEVICES_PATH), JSON.stringify(doc));
  await expectCode(t, (await openTrust(reg)).fetchDevices(new DirSource(reg.dir)), 'SIGNATURE_INVALID');
});

test('a channel key that is not of the devices role does not sign the devices document → UNKNOWN_KEY', async (t) => {
  const reg = await registry(t);
  // A root whose devices role has its own key: the channel (and root) key no longer vouches for devices.
  const devicesKey = generateKey();
  await rotateRoot({ registry: reg.dir, keys: [reg.key.publicKey], threshold: 1, devicesKeys: [devicesKey.publicKey], signers: [reg.key], expiresMs: 30 * DAY });
  await enrol(reg, newEntry(), { signers: [devicesKey] });
  const doc = JSON.parse(await readFile(join(reg.dir, DEVICES_PATH), 'utf8')) as DevicesDocument;
  t.is((await (await openTrust(reg)).fetchDevices(new DirSource(reg.dir)))?.signed.version, 1);
  await writeFile(join(reg.dir, DEVICES_PATH), JSON.stringify(sign({ ...doc.signed, version: 2 }, [reg.key])));
  await expectCode(t, (await openTrust(reg)).fetchDevices(new DirSource(reg.dir)), 'UNKNOWN_KEY');
});

test('threshold 2 on the devices role with one signature → THRESHOLD_NOT_MET (and the signer refuses to write it)', async (t) => {
  const reg = await registry(t);
  const a = generateKey();
  const b = generateKey();
  await rotateRoot({ registry: reg.dir, keys: [reg.key.publicKey], threshold: 1, devicesKeys: [a.publicKey, b.publicKey], devicesThreshold: 2, signers: [reg.key], expiresMs: 30 * DAY });
  await expectCode(t, enrol(reg, newEntry(), { signers: [a] }), 'THRESHOLD_NOT_MET');
  const doc = await enrol(reg, newEntry(), { signers: [a, b] });
  await writeFile(join(reg.dir, DEVICES_PATH), JSON.stringify({ ...doc, signatures: doc.signatures.slice(0, 1) }));
  await expectCode(t, (await openTrust(reg)).fetchDevices(new DirSource(reg.dir)), 'THRESHOLD_NOT_MET');
});

test('endless data: a devices document over maxDevicesBytes → DOCUMENT_TOO_LARGE', async (t) => {
  const reg = await registry(t);
  await enrol(reg);
  const trust = await Trust.open({ initialRoot: reg.rootBytes, limits: { maxDevicesBytes: 200 } });
  await expectCode(t, trust.fetchDevices(new DirSource(reg.dir)), 'DOCUMENT_TOO_LARGE');
});

test('an old root.json without a devices role still verifies channels, and trusts no devices document', async (t) => {
  const reg = await registry(t);
  // root.json as made before devices had identities: the same keys, no devices role, signed by the root key.
  const current = readRoot(JSON.parse(reg.rootBytes.toString()));
  const { devices: _devices, ...roles } = current.signed.roles;
  const old: Root = sign({ ...current.signed, roles }, [reg.key]);
  const oldBytes = Buffer.from(JSON.stringify(old));
  await writeFile(join(reg.dir, 'root.json'), oldBytes);
  await writeFile(join(reg.dir, 'roots', '1.root.json'), oldBytes);
  const doc = await enrol(reg).catch((err: unknown) => err);
  t.true(isBootosError(doc, 'USAGE'), 'device enroll says the root needs a devices role');
  const trust = await Trust.open({ initialRoot: oldBytes });
  const channel = await trust.fetchChannel(new DirSource(reg.dir), 'stable');
  t.is(channel.signed.version, 1);
  // A devices document placed there anyway (signed by the root's key) is not trusted under this root.
  await writeFile(join(reg.dir, DEVICES_PATH), JSON.stringify(sign({ type: 'devices', version: 1, expires: '2099-01-01T00:00:00Z', devices: [newEntry()], revoked: [] }, [reg.key])));
  t.is(await trust.fetchDevices(new DirSource(reg.dir)), null);
  await expectCode(t, trust.acceptDevices(await readFile(join(reg.dir, DEVICES_PATH))), 'UNKNOWN_KEY');
});

test('the devices document kept in the state folder: trusted again after a restart only while it verifies', async (t) => {
  const reg = await registry(t);
  const stateDir = join(await testDir(t), 'state');
  const entry = newEntry();
  await enrol(reg, entry);
  await (await openTrust(reg, { stateDir })).fetchDevices(new DirSource(reg.dir));
  t.is((await (await Trust.open({ initialRoot: reg.rootBytes, stateDir })).savedDevices())?.signed.devices[0]?.id, entry.id);
  // Someone with the disk adds a device to the kept copy: not trusted.
  const kept = JSON.parse(await readFile(join(stateDir, DEVICES_PATH), 'utf8')) as DevicesDocument;
  kept.signed.devices.push(newEntry());
  await writeFile(join(stateDir, DEVICES_PATH), JSON.stringify(kept));
  t.is(await (await Trust.open({ initialRoot: reg.rootBytes, stateDir })).savedDevices(), null);
  // An older, validly signed copy put back after version 2 was seen: not the version seen, not trusted.
  await enrol(reg, newEntry());
  await (await openTrust(reg, { stateDir })).fetchDevices(new DirSource(reg.dir));
  t.is((await (await Trust.open({ initialRoot: reg.rootBytes, stateDir })).savedDevices())?.signed.version, 2);
  await writeFile(join(stateDir, DEVICES_PATH), JSON.stringify(sign({ ...kept.signed, version: 1, devices: [] }, [reg.key])));
  t.is(await (await Trust.open({ initialRoot: reg.rootBytes, stateDir })).savedDevices(), null);
});
