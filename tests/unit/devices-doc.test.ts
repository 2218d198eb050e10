// What this file proves: the readers of the devices document, of the enrolment request and of the device identity
// file turn hostile or damaged input into coded errors (DOCUMENT_TYPE, SIGNATURE_INVALID, IDENTITY_INVALID), never a
// crash nor an accepted document. Each failing case changes one thing in a valid fixture. And the identity is made
// once, kept with mode 0600, and read back the same.
import test from 'ava';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { isBootosError, type ErrorCode } from '../../fetcher/src/core/error.js';
import { deviceIdOf, enrolmentOf, readDevices, type DevicesSigned } from '../../fetcher/src/formats/devices-doc.js';
import { readEnrolmentRequest } from '../../fetcher/src/formats/enrolment-request.js';
import { checkEnrolmentRequest } from '../../fetcher/src/publish/devices-signer.js';
import { sign } from '../../fetcher/src/publish/signer.js';
import { generateKey } from '../../fetcher/src/trust/keys.js';
import { DeviceIdentity } from '../../bootos/src/agent/identity/identity.js';
import { FileKeyStore } from '../../bootos/src/agent/identity/key-store.js';
import { testDir } from '../support/registry.js';

function rawPublic(type: 'ed25519' | 'x25519'): Buffer {
  return Buffer.from(generateKeyPairSync(type as 'ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
}

function validDoc(): { signed: DevicesSigned; signatures: { keyid: string; sig: string }[] } {
  const signKey = rawPublic('ed25519');
  const signed: DevicesSigned = {
    type: 'devices',
    version: 3,
    expires: '2099-01-01T00:00:00Z',
    devices: [{ id: deviceIdOf(signKey), keys: { sign: signKey.toString('base64'), seal: rawPublic('x25519').toString('base64') }, profile: 'office', groups: ['lab'], expires: '2099-01-01T00:00:00Z' }],
    revoked: ['0'.repeat(32)],
  };
  return JSON.parse(JSON.stringify(sign(signed, [generateKey()])));
}

function expectCode(t: import('ava').ExecutionContext, fn: () => unknown, code: ErrorCode, field?: string): void {
  const err = t.throws(fn);
  t.true(isBootosError(err, code), `expected ${code}, got ${(err as { code?: string })?.code}: ${err?.message}`);
  if (field) t.true(err!.message.includes(field), `the message names ${field}: ${err!.message}`);
}

test('a valid devices document reads back as written', (t) => {
  const doc = validDoc();
  t.deepEqual(readDevices(doc), doc);
});

test('device id: the first 16 bytes of sha256 of the raw Ed25519 public key, as 32 lowercase hex digits', (t) => {
  const key = Buffer.alloc(32, 7);
  t.is(deviceIdOf(key), createHash('sha256').update(key).digest('hex').slice(0, 32));
  t.regex(deviceIdOf(key), /^[0-9a-f]{32}$/);
});

const hostile: [string, (d: any) => void, string][] = [
  ['not an object', (d) => (d.signed = []), 'signed'],
  ['another type', (d) => (d.signed.type = 'channel'), 'signed.type'],
  ['an unknown field', (d) => (d.signed.extra = 1), 'signed.extra'],
  ['version 0', (d) => (d.signed.version = 0), 'signed.version'],
  ['a float version', (d) => (d.signed.version = 1.5), 'signed.version'],
  ['expires not a UTC time', (d) => (d.signed.expires = 'tomorrow'), 'signed.expires'],
  ['devices not a list', (d) => (d.signed.devices = {}), 'signed.devices'],
  ['an id that is not hex', (d) => (d.signed.devices[0].id = 'Z'.repeat(32)), 'signed.devices[0].id'],
  ['an id of another key', (d) => (d.signed.devices[0].id = 'a'.repeat(32)), 'signed.devices[0].id'],
  ['a short sign key', (d) => (d.signed.devices[0].keys.sign = Buffer.alloc(31).toString('base64')), 'signed.devices[0].keys.sign'],
  ['a seal key that is not base64', (d) => (d.signed.devices[0].keys.seal = `${'*'.repeat(43)}=`), 'signed.devices[0].keys.seal'],
  ['non-canonical base64', (d) => (d.signed.devices[0].keys.seal = `${d.signed.devices[0].keys.seal.slice(0, 42)}B=`), 'signed.devices[0].keys.seal'],
  ['a missing keys', (d) => delete d.signed.devices[0].keys, 'signed.devices[0].keys'],
  ['a bad group name', (d) => (d.signed.devices[0].groups = ['Lab Group']), 'signed.devices[0].groups[0]'],
  ['a group twice', (d) => (d.signed.devices[0].groups = ['lab', 'lab']), 'signed.devices[0].groups'],
  ['a device twice', (d) => d.signed.devices.push(d.signed.devices[0]), 'signed.devices[1].id'],
  ['a device also revoked', (d) => d.signed.revoked.push(d.signed.devices[0].id), 'also revoked'],
  ['a revoked id twice', (d) => d.signed.revoked.push(d.signed.revoked[0]), 'signed.revoked'],
  ['a revoked entry not an id', (d) => (d.signed.revoked = [42]), 'signed.revoked[0]'],
  ['an entry without expiry', (d) => delete d.signed.devices[0].expires, 'signed.devices[0].expires'],
  ['a signature key id that is not hex', (d) => (d.signatures[0].keyid = 'x'), 'signatures[0].keyid'],
  ['no signatures field', (d) => delete d.signatures, 'signatures'],
];

for (const [name, change, field] of hostile) {
  test(`devices document: ${name} → DOCUMENT_TYPE naming ${field}`, (t) => {
    const doc = validDoc();
    change(doc);
    expectCode(t, () => readDevices(doc), 'DOCUMENT_TYPE', field);
  });
}

test('enrolmentOf: listed, revoked, expired, not listed', (t) => {
  const { signed } = validDoc();
  const id = signed.devices[0]!.id;
  const now = Date.parse('2030-01-01T00:00:00Z');
  t.true(enrolmentOf(signed, id, now).enrolled);
  t.deepEqual(enrolmentOf(signed, '0'.repeat(32), now), { enrolled: false, reason: 'revoked' });
  t.deepEqual(enrolmentOf(signed, 'f'.repeat(32), now), { enrolled: false, reason: 'not-listed' });
  t.deepEqual(enrolmentOf(signed, id, Date.parse('2099-01-01T00:00:00Z')), { enrolled: false, reason: 'expired' });
});

test('identity: made once with mode 0600, read back the same; its request proves the key', async (t) => {
  const dir = await testDir(t);
  const store = new FileKeyStore(join(dir, 'identity.json'));
  const first = await DeviceIdentity.open(store);
  t.true(first.made);
  t.is((await stat(store.location)).mode & 0o777, 0o600);
  t.regex(first.identity.id, /^[0-9a-f]{32}$/);
  t.is(first.identity.id, deviceIdOf(Buffer.from(first.identity.keys.sign, 'base64')));
  t.is(first.identity.sealPublicKey.length, 32);
  t.is(first.identity.sealPrivateKey.asymmetricKeyType, 'x25519');
  await chmod(store.location, 0o644);
  const again = await DeviceIdentity.open(store);
  t.false(again.made);
  t.is(again.identity.id, first.identity.id);
  t.deepEqual(again.identity.keys, first.identity.keys);
  t.is((await stat(store.location)).mode & 0o777, 0o600, 'a widened file is made 0600 again');
  const request = JSON.parse(JSON.stringify(again.identity.enrolmentRequest({ hostname: 'desk-1', arch: 'x86_64' })));
  t.is(checkEnrolmentRequest(request, 'request').id, first.identity.id);
  // One changed field, and the proof no longer holds.
  expectCode(t, () => checkEnrolmentRequest({ ...request, hostname: 'desk-2' }, 'request'), 'SIGNATURE_INVALID');
  // Another device's keys under this id.
  const other = (await DeviceIdentity.open(new FileKeyStore(join(dir, 'other.json')))).identity;
  expectCode(t, () => checkEnrolmentRequest({ ...request, keys: other.keys }, 'request'), 'DOCUMENT_TYPE', 'id');
  expectCode(t, () => readEnrolmentRequest({ ...request, type: 'x' }, 'request'), 'DOCUMENT_TYPE', 'type');
  expectCode(t, () => readEnrolmentRequest({ ...request, sig: 'short' }, 'request'), 'DOCUMENT_TYPE', 'sig');
});

const damaged: [string, (f: any) => unknown][] = [
  ['not JSON', () => '{'],
  ['another type', (f) => ({ ...f, type: 'other' })],
  ['a short private key', (f) => ({ ...f, sign: { ...f.sign, private: Buffer.alloc(16).toString('base64') } })],
  ['a public key of another private key', (f) => ({ ...f, seal: { ...f.seal, public: f.sign.public } })],
  ['a missing seal pair', (f) => ({ ...f, seal: undefined })],
  ['version 2', (f) => ({ ...f, version: 2 })],
];

for (const [name, change] of damaged) {
  test(`identity file: ${name} → IDENTITY_INVALID, and the file is kept`, async (t) => {
    const dir = await testDir(t);
    const store = new FileKeyStore(join(dir, 'identity.json'));
    await DeviceIdentity.open(store);
    const changed = change(JSON.parse(await readFile(store.location, 'utf8')));
    const text = typeof changed === 'string' ? changed : JSON.stringify(changed);
    await writeFile(store.location, text);
    const err = await t.throwsAsync(DeviceIdentity.open(store));
    t.true(isBootosError(err, 'IDENTITY_INVALID'), `${(err as { code?: string }).code}: ${err?.message}`);
    t.is(await readFile(store.location, 'utf8'), text, 'a damaged identity is never replaced by a new one');
  });
}
