// The enrolment request: the small JSON a device shows (GET /api/device, the kiosk) and the administrator hands to
// `bootos device enroll`. It names the device's id and public keys and is signed by the device's own Ed25519 key over
// the canonical JSON of every other field, which proves that whoever made it holds that key (docs/formats.md).
import { ISO_DATE, Reader } from '../core/guard.js';
import { DEVICE_ID, deviceIdOf, readDeviceKeys, type DeviceKeys } from './devices-doc.js';

export const ENROLMENT_REQUEST_TYPE = 'bootos-enrolment-request';

export interface EnrolmentRequestBody {
  type: typeof ENROLMENT_REQUEST_TYPE;
  id: string;
  keys: DeviceKeys;
  /** When the identity was made (the request is the same on every boot). */
  created: string;
  /** Informational, for the administrator: the device's hostname and architecture when it made the request. */
  hostname?: string;
  arch?: string;
}

export interface EnrolmentRequest extends EnrolmentRequestBody {
  /** Ed25519 signature by keys.sign over the canonical JSON of the other fields, base64. */
  sig: string;
}

/** Checks the shape of a request and that its id is its key's fingerprint; the signature is checked by the caller. */
export function readEnrolmentRequest(value: unknown, where: string): EnrolmentRequest {
  const r = new Reader('DOCUMENT_TYPE', where);
  const o = r.object(value, '', ['type', 'id', 'keys', 'created', 'hostname', 'arch', 'sig']);
  if (o.type !== ENROLMENT_REQUEST_TYPE) r.fail('type', `expected ${JSON.stringify(ENROLMENT_REQUEST_TYPE)}, got ${JSON.stringify(o.type)}`);
  const id = r.required(o, 'id', '', (v, p) => r.string(v, p, DEVICE_ID, 'expected a device id (32 lowercase hex digits)'));
  const keys = r.required(o, 'keys', '', (v, p) => readDeviceKeys(r, v, p));
  if (deviceIdOf(Buffer.from(keys.sign, 'base64')) !== id) r.fail('id', 'is not the fingerprint of keys.sign');
  const hostname = r.optional(o, 'hostname', '', (v, p) => r.string(v, p, /^[\x20-\x7e]{0,253}$/, 'expected printable ASCII, at most 253 characters'));
  const arch = r.optional(o, 'arch', '', (v, p) => r.string(v, p, /^[a-z0-9_]{1,32}$/));
  return {
    type: ENROLMENT_REQUEST_TYPE,
    id,
    keys,
    created: r.required(o, 'created', '', (v, p) => r.string(v, p, ISO_DATE, 'expected an ISO 8601 UTC time')),
    ...(hostname !== undefined ? { hostname } : {}),
    ...(arch !== undefined ? { arch } : {}),
    sig: r.required(o, 'sig', '', (v, p) => r.string(v, p, /^[A-Za-z0-9+/]{86}==$/, 'expected a base64 Ed25519 signature')),
  };
}

/** The fields the signature covers. */
export function enrolmentRequestBody(request: EnrolmentRequest): EnrolmentRequestBody {
  const { sig: _sig, ...body } = request;
  return body;
}
