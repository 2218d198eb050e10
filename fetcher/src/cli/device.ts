// `bootos device enroll | revoke | list | sign`: the registry's devices document (devices.json), signed by the
// devices role of root.json. Each change writes version N+1 (docs/formats.md, "The devices document").
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defineCommand, registryDirectory, required, status, usageError } from './kit.js';
import { BootosError, errnoCode } from '../core/error.js';
import { ISO_DATE, Reader, parseJson } from '../core/guard.js';
import { loadSecretKey } from '../trust/keys.js';
import { isoTime, parseDuration } from '../formats/trust-docs.js';
import { DEVICE_GROUP, DEVICE_ID, DEVICES_PATH, deviceIdOf, readRawKey, type DeviceEntry, type DevicesDocument } from '../formats/devices-doc.js';
import { checkEnrolmentRequest, enrollDevice, readRegistryDevices, resignDevices, revokeDevice } from '../publish/devices-signer.js';

const signing = {
  registry: { type: 'string' },
  sign: { type: 'string', multiple: true },
  'document-expires': { type: 'string' },
  json: { type: 'boolean' },
} as const;

const signingHelp = {
  registry: 'registry directory (required)',
  sign: 'secret key of the devices role to sign with; repeat to meet the threshold (required)',
  'document-expires': 'lifetime of the devices document (default 7d); devices stop trusting it after that',
  json: 'print the signed devices document as JSON',
};

async function signingOptions(values: { registry?: string; sign?: string[]; 'document-expires'?: string }) {
  return {
    registry: registryDirectory(required(values.registry, 'registry')),
    signers: await Promise.all(required(values.sign, 'sign').map(loadSecretKey)),
    expiresMs: parseDuration(values['document-expires'] ?? '7d'),
  };
}

function report(doc: DevicesDocument, registry: string, json: boolean | undefined, what: string): void {
  if (json) console.log(JSON.stringify(doc));
  else console.log(resolve(registry, DEVICES_PATH));
  status(`${what}; devices document version ${doc.signed.version}: ${doc.signed.devices.length} device(s), ${doc.signed.revoked.length} revoked, expires ${doc.signed.expires}`);
}

/** An expiry: a duration from now (365d) or an ISO 8601 UTC time. */
function expiryOf(text: string, now = Date.now()): string {
  if (ISO_DATE.test(text)) return isoTime(Date.parse(text));
  return isoTime(now + parseDuration(text));
}

async function readRequestFile(path: string): Promise<unknown> {
  try {
    const bytes = path === '-' ? await readStdin() : await readFile(path);
    return parseJson(bytes, path === '-' ? 'the enrolment request on stdin' : path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('FILE_NOT_FOUND', `enrolment request not found: ${path}`, { cause: err });
    throw err;
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const deviceEnroll = defineCommand({
  name: 'device enroll',
  summary: 'enrol a device (from its enrolment request) in the devices document',
  usage: 'REQUEST_FILE|- | --id ID --sign-pub B64 --seal-pub B64  --registry DIR --sign K.key [--profile P] [--group G …] [--expires 365d]',
  options: {
    ...signing,
    id: { type: 'string' },
    'sign-pub': { type: 'string' },
    'seal-pub': { type: 'string' },
    profile: { type: 'string' },
    group: { type: 'string', multiple: true },
    expires: { type: 'string' },
  },
  help: {
    ...signingHelp,
    id: 'the device id, when no request file is given (32 hex digits, shown by the device)',
    'sign-pub': "the device's Ed25519 public key, base64 (with --id)",
    'seal-pub': "the device's X25519 public key, base64 (with --id)",
    profile: 'the profile this device is meant for',
    group: 'a group the device belongs to (what `publish --encrypt-to GROUP` names); repeat',
    expires: 'the enrolment ends then: a duration (default 365d) or an ISO 8601 UTC time',
  },
  details: [
    "REQUEST_FILE is the enrolment request the device shows (GET /api/device `identity.request`, or the kiosk's",
    "device panel); its signature proves it was made with the device's key. `-` reads it from stdin. Enrolling an",
    'enrolled id again replaces its entry (profile, groups, expiry); a revoked id is never enrolled again.',
  ].join('\n'),
  positionals: { min: 0, max: 1 },
  async run(values, [requestFile]) {
    const r = new Reader('USAGE', 'bootos device enroll');
    let id: string;
    let keys: DeviceEntry['keys'];
    if (requestFile !== undefined) {
      if (values.id || values['sign-pub'] || values['seal-pub']) throw usageError('give either REQUEST_FILE or --id/--sign-pub/--seal-pub, not both');
      const request = checkEnrolmentRequest(await readRequestFile(requestFile), requestFile);
      ({ id, keys } = request);
    } else {
      id = r.string(required(values.id, 'id'), '--id', DEVICE_ID, 'expected a device id (32 lowercase hex digits)');
      keys = { sign: readRawKey(r, required(values['sign-pub'], 'sign-pub'), '--sign-pub'), seal: readRawKey(r, required(values['seal-pub'], 'seal-pub'), '--seal-pub') };
      if (deviceIdOf(Buffer.from(keys.sign, 'base64')) !== id) throw usageError(`--id ${id} is not the fingerprint of --sign-pub (the device shows both; copy them again)`);
    }
    const groups = values.group ?? [];
    for (const g of groups) if (!DEVICE_GROUP.test(g)) throw usageError(`--group ${g}: use lowercase letters, digits, . _ -`);
    if (values.profile !== undefined && !DEVICE_GROUP.test(values.profile)) throw usageError(`--profile ${values.profile}: use lowercase letters, digits, . _ -`);
    const entry: DeviceEntry = {
      id,
      keys,
      ...(values.profile !== undefined ? { profile: values.profile } : {}),
      groups: [...new Set(groups)],
      expires: expiryOf(values.expires ?? '365d'),
    };
    const options = await signingOptions(values);
    const doc = await enrollDevice({ ...options, entry });
    report(doc, options.registry, values.json, `enrolled ${id} until ${entry.expires}`);
  },
});

export const deviceRevoke = defineCommand({
  name: 'device revoke',
  summary: 'revoke a device for good (it is no longer enrolled)',
  usage: 'ID --registry DIR --sign K.key [--sign …]',
  options: signing,
  help: signingHelp,
  details: 'The id leaves the device list and joins `revoked`; it can never be enrolled again.',
  positionals: { min: 1, max: 1 },
  async run(values, [id]) {
    if (!DEVICE_ID.test(id!)) throw usageError(`${id} is not a device id (32 lowercase hex digits)`);
    const options = await signingOptions(values);
    const doc = await revokeDevice({ ...options, id: id! });
    report(doc, options.registry, values.json, `revoked ${id}`);
  },
});

export const deviceSign = defineCommand({
  name: 'device sign',
  summary: 're-sign the devices document unchanged, with a new version and expiry',
  usage: '--registry DIR --sign K.key [--sign …] [--document-expires 7d]',
  options: signing,
  help: signingHelp,
  details: 'Devices stop trusting an expired devices document (and so are no longer enrolled): re-sign it before.',
  async run(values) {
    const options = await signingOptions(values);
    report(await resignDevices(options), options.registry, values.json, 're-signed');
  },
});

export const deviceList = defineCommand({
  name: 'device list',
  summary: 'list the enrolled and revoked devices of a registry',
  usage: '--registry DIR [--json]',
  options: { registry: { type: 'string' }, json: { type: 'boolean' } },
  help: { registry: 'registry directory (required)', json: 'print the signed part of the devices document as JSON' },
  async run(values) {
    const registry = registryDirectory(required(values.registry, 'registry'));
    const doc = await readRegistryDevices(registry);
    if (values.json) {
      console.log(JSON.stringify(doc?.signed ?? null));
      return;
    }
    if (!doc) {
      status(`${registry} has no devices document yet (bootos device enroll makes it)`);
      return;
    }
    const now = Date.now();
    for (const d of doc.signed.devices) {
      const state = Date.parse(d.expires) <= now ? 'expired' : 'enrolled';
      console.log([d.id, state, d.profile ?? '-', d.groups.join(',') || '-', d.expires].join('\t'));
    }
    for (const id of doc.signed.revoked) console.log([id, 'revoked', '-', '-', '-'].join('\t'));
    status(`devices document version ${doc.signed.version}, expires ${doc.signed.expires}${Date.parse(doc.signed.expires) <= now ? ' (EXPIRED: re-sign it with bootos device sign)' : ''}`);
  },
});
