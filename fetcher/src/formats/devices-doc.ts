// The devices document (devices.json in the registry): the devices the publisher enrolled, each with its public keys,
// profile, groups and expiry, and the ids it revoked. Signed like a channel (Ed25519 over the canonical JSON of
// `signed`) by the `devices` role of root.json; verified by trust/trust.ts (docs/formats.md, "The devices document").
import { createHash } from 'node:crypto';
import { ISO_DATE, Reader } from '../core/guard.js';
import { readSignatures, type SignedDocument } from './trust-docs.js';

/** A device id: lowercase hex of the first 16 bytes of sha256 of the raw 32-byte Ed25519 public key. */
export const DEVICE_ID = /^[0-9a-f]{32}$/;
/** A device's group name (what `--encrypt-to GROUP` names) and its profile name. */
export const DEVICE_GROUP = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** A public key as the documents carry it: standard padded base64 of 32 raw bytes. */
export const RAW_KEY_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/** Where the document lives in a registry directory (and its artifact's path in an OCI registry). */
export const DEVICES_PATH = 'devices.json';

export interface DeviceKeys {
  /** Ed25519 public key (base64 of 32 raw bytes): the device's id is its fingerprint. */
  sign: string;
  /** X25519 public key (base64 of 32 raw bytes): content keys are sealed to it. */
  seal: string;
}

export interface DeviceEntry {
  id: string;
  keys: DeviceKeys;
  /** The profile the publisher means this device for (informational to the device; the kernel command line rules). */
  profile?: string;
  groups: string[];
  /** The enrolment ends here: after it the device is not enrolled. */
  expires: string;
}

export interface DevicesSigned {
  type: 'devices';
  version: number;
  expires: string;
  devices: DeviceEntry[];
  /** Ids revoked for good: never listed in `devices` again. */
  revoked: string[];
}

export type DevicesDocument = SignedDocument<DevicesSigned>;

/** The device id of a raw Ed25519 public key. */
export function deviceIdOf(signPublicKey: Buffer): string {
  return createHash('sha256').update(signPublicKey).digest().subarray(0, 16).toString('hex');
}

/** Checks a base64 raw key field: 32 bytes, canonical padded base64. */
export function readRawKey(r: Reader, value: unknown, path: string): string {
  const text = r.string(value, path, RAW_KEY_BASE64, 'expected the base64 of a 32-byte public key');
  if (Buffer.from(text, 'base64').toString('base64') !== text) r.fail(path, 'not canonical base64');
  return text;
}

export function readDeviceKeys(r: Reader, value: unknown, path: string): DeviceKeys {
  const o = r.object(value, path, ['sign', 'seal']);
  return {
    sign: r.required(o, 'sign', path, (v, p) => readRawKey(r, v, p)),
    seal: r.required(o, 'seal', path, (v, p) => readRawKey(r, v, p)),
  };
}

function readEntry(r: Reader, value: unknown, path: string): DeviceEntry {
  const o = r.object(value, path, ['id', 'keys', 'profile', 'groups', 'expires']);
  const id = r.required(o, 'id', path, (v, p) => r.string(v, p, DEVICE_ID, 'expected a device id (32 lowercase hex digits)'));
  const keys = r.required(o, 'keys', path, (v, p) => readDeviceKeys(r, v, p));
  // An entry cannot give one device's id to another device's keys: the id is the signing key's fingerprint.
  if (deviceIdOf(Buffer.from(keys.sign, 'base64')) !== id) r.fail(`${path}.id`, 'is not the fingerprint of keys.sign');
  const groups = r.optional(o, 'groups', path, (v, p) => r.stringArray(v, p)) ?? [];
  groups.forEach((g, i) => DEVICE_GROUP.test(g) || r.fail(`${path}.groups[${i}]`, 'not a valid group name (lowercase letters, digits, . _ -)'));
  if (new Set(groups).size !== groups.length) r.fail(`${path}.groups`, 'lists a group twice');
  const profile = r.optional(o, 'profile', path, (v, p) => r.string(v, p, DEVICE_GROUP, 'not a valid profile name'));
  return {
    id,
    keys,
    ...(profile !== undefined ? { profile } : {}),
    groups,
    expires: r.required(o, 'expires', path, (v, p) => r.string(v, p, ISO_DATE, 'expected an ISO 8601 UTC time')),
  };
}

/** Checks the shape of a devices document (untrusted until trust.ts has checked its signatures). */
export function readDevices(value: unknown, where = DEVICES_PATH): DevicesDocument {
  const r = new Reader('DOCUMENT_TYPE', where);
  const o = r.object(value, '', ['signed', 'signatures']);
  const s = r.required(o, 'signed', '', (v, p) => r.object(v, p, ['type', 'version', 'expires', 'devices', 'revoked']));
  if (s.type !== 'devices') r.fail('signed.type', `expected "devices", got ${JSON.stringify(s.type)}`);
  const devices = r.required(s, 'devices', 'signed', (v, p) => r.array(v, p)).map((d, i) => readEntry(r, d, `signed.devices[${i}]`));
  const revoked = r.required(s, 'revoked', 'signed', (v, p) => r.array(v, p)).map((v, i) => r.string(v, `signed.revoked[${i}]`, DEVICE_ID, 'expected a device id (32 lowercase hex digits)'));
  const seen = new Set<string>();
  devices.forEach((d, i) => {
    if (seen.has(d.id)) r.fail(`signed.devices[${i}].id`, `device ${d.id} is listed twice`);
    seen.add(d.id);
  });
  const gone = new Set(revoked);
  if (gone.size !== revoked.length) r.fail('signed.revoked', 'lists an id twice');
  devices.forEach((d, i) => gone.has(d.id) && r.fail(`signed.devices[${i}].id`, `device ${d.id} is also revoked`));
  return {
    signed: {
      type: 'devices',
      version: r.required(s, 'version', 'signed', (v, p) => r.integer(v, p, 1)),
      expires: r.required(s, 'expires', 'signed', (v, p) => r.string(v, p, ISO_DATE, 'expected an ISO 8601 UTC time')),
      devices,
      revoked,
    },
    signatures: r.required(o, 'signatures', '', (v) => readSignatures(r, v)),
  };
}

/** What a verified devices document says of one device at `now`. */
export type Enrolment = { enrolled: true; entry: DeviceEntry } | { enrolled: false; reason: 'not-listed' | 'revoked' | 'expired' };

export function enrolmentOf(doc: DevicesSigned, id: string, now: number): Enrolment {
  if (doc.revoked.includes(id)) return { enrolled: false, reason: 'revoked' };
  const entry = doc.devices.find((d) => d.id === id);
  if (!entry) return { enrolled: false, reason: 'not-listed' };
  if (Date.parse(entry.expires) <= now) return { enrolled: false, reason: 'expired' };
  return { enrolled: true, entry };
}
