// The publisher's side of device identity: enrolling and revoking devices in the registry's devices document
// (devices.json), signed by the `devices` role of root.json. Every change writes version N+1 (devices refuse a lower
// version than they have seen), with a fresh expiry.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/fs.js';
import { BootosError, errnoCode } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { canonicalBytes } from '../core/canonical-json.js';
import { verifyBytes, type SecretKey } from '../trust/keys.js';
import { checkSignatures } from '../trust/trust.js';
import { isoTime } from '../formats/trust-docs.js';
import { DEVICES_PATH, readDevices, type DeviceEntry, type DevicesDocument, type DevicesSigned } from '../formats/devices-doc.js';
import { enrolmentRequestBody, readEnrolmentRequest, type EnrolmentRequest } from '../formats/enrolment-request.js';
import { readRegistryRoot, sign } from './signer.js';

export interface DevicesSignOptions {
  registry: string;
  /** Keys of the devices role: together they must meet its threshold. */
  signers: SecretKey[];
  /** Lifetime of the document: devices stop trusting it after this (the freeze defence); re-sign before. */
  expiresMs: number;
  now?: number;
}

/** The registry's devices document, or null when there is none yet. */
export async function readRegistryDevices(registry: string): Promise<DevicesDocument | null> {
  const file = join(registry, DEVICES_PATH);
  try {
    return readDevices(parseJson(await readFile(file), file), file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** Reads an enrolment request and checks its proof: the signature by the device key it names. */
export function checkEnrolmentRequest(value: unknown, where: string): EnrolmentRequest {
  const request = readEnrolmentRequest(value, where);
  const body = canonicalBytes(enrolmentRequestBody(request));
  if (!verifyBytes(Buffer.from(request.keys.sign, 'base64'), body, request.sig)) {
    throw new BootosError('SIGNATURE_INVALID', `${where}: the request is not signed by the device key it names (altered, or not made by that device)`);
  }
  return request;
}

/** Applies `change` to the current list (empty when there is none) and writes it as version N+1, signed. */
async function resign(options: DevicesSignOptions, change: (signed: Pick<DevicesSigned, 'devices' | 'revoked'>) => void): Promise<DevicesDocument> {
  const root = await readRegistryRoot(options.registry);
  if (!root) throw new BootosError('USAGE', `${options.registry} has no root.json; run \`bootos root init\` first`);
  const role = root.signed.roles.devices;
  if (!role) {
    throw new BootosError('USAGE', `${options.registry}/root.json has no devices role (it was made before devices had identities); add one with \`bootos root rotate … --devices-key K.pub\``);
  }
  const previous = await readRegistryDevices(options.registry);
  const lists = { devices: [...(previous?.signed.devices ?? [])], revoked: [...(previous?.signed.revoked ?? [])] };
  change(lists);
  const doc = sign<DevicesSigned>(
    {
      type: 'devices',
      version: (previous?.signed.version ?? 0) + 1,
      expires: isoTime((options.now ?? Date.now()) + options.expiresMs),
      devices: lists.devices.sort((a, b) => a.id.localeCompare(b.id)),
      revoked: lists.revoked.sort(),
    },
    options.signers,
  );
  // Refuse to publish what devices would refuse: a document that does not read back, or signers under the threshold.
  readDevices(JSON.parse(JSON.stringify(doc)), DEVICES_PATH);
  checkSignatures(doc, role, root.signed.keys, 'the devices document');
  await writeFileAtomic(join(options.registry, DEVICES_PATH), `${JSON.stringify(doc, null, 2)}\n`);
  return doc;
}

/** Enrols a device, or replaces its entry (new profile, groups or expiry). A revoked id is never enrolled again. */
export function enrollDevice(options: DevicesSignOptions & { entry: DeviceEntry }): Promise<DevicesDocument> {
  const { entry } = options;
  return resign(options, (lists) => {
    if (lists.revoked.includes(entry.id)) {
      throw new BootosError('USAGE', `device ${entry.id} was revoked; a revoked identity is never enrolled again (remove the device's identity file so that it makes a new one, and enrol that)`);
    }
    const at = lists.devices.findIndex((d) => d.id === entry.id);
    if (at >= 0) lists.devices[at] = entry;
    else lists.devices.push(entry);
  });
}

/** Revokes a device for good: its entry goes, its id joins `revoked`. */
export function revokeDevice(options: DevicesSignOptions & { id: string }): Promise<DevicesDocument> {
  return resign(options, (lists) => {
    if (lists.revoked.includes(options.id)) throw new BootosError('USAGE', `device ${options.id} is already revoked`);
    lists.devices = lists.devices.filter((d) => d.id !== options.id);
    lists.revoked.push(options.id);
  });
}

/** Re-signs the document unchanged with a new version and expiry (before it expires). */
export function resignDevices(options: DevicesSignOptions): Promise<DevicesDocument> {
  return resign(options, () => {});
}
