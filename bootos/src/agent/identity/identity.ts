// The device's own identity: an Ed25519 key pair that signs (its id is the public key's fingerprint) and an X25519
// key pair that content keys are sealed to. Made with node:crypto at the first start of the agent on this data root
// and kept in a KeyStore (key-store.ts: a 0600 file today, the seam for a TPM2). The private keys never leave the
// device: what it shows (GET /api/device) is the id, the public keys and a signed enrolment request.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { canonicalBytes } from '../../../../fetcher/src/core/canonical-json.js';
import { BootosError } from '../../../../fetcher/src/core/error.js';
import { ISO_DATE, Reader, parseJson } from '../../../../fetcher/src/core/guard.js';
import { isoTime } from '../../../../fetcher/src/formats/trust-docs.js';
import { deviceIdOf, readRawKey, type DeviceKeys } from '../../../../fetcher/src/formats/devices-doc.js';
import { ENROLMENT_REQUEST_TYPE, type EnrolmentRequest, type EnrolmentRequestBody } from '../../../../fetcher/src/formats/enrolment-request.js';
import type { KeyStore } from './key-store.js';

export const IDENTITY_TYPE = 'bootos-device-identity';

type Curve = 'Ed25519' | 'X25519';

/** The identity file: raw 32-byte keys in standard base64 (docs/formats.md, "The device identity"). */
interface IdentityFile {
  type: typeof IDENTITY_TYPE;
  version: 1;
  created: string;
  sign: { public: string; private: string };
  seal: { public: string; private: string };
}

interface KeyPair {
  privateKey: KeyObject;
  /** 32 raw bytes. */
  publicKey: Buffer;
  /** 32 raw bytes (the Ed25519 seed, the X25519 scalar). */
  privateRaw: Buffer;
}

function newPair(type: 'ed25519' | 'x25519'): KeyPair {
  const { privateKey } = generateKeyPairSync(type as 'ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey, publicKey: Buffer.from(jwk.x!, 'base64url'), privateRaw: Buffer.from(jwk.d!, 'base64url') };
}

/** Imports a raw private key and checks that the public key beside it is its own. */
function importPair(r: Reader, curve: Curve, pair: { public: string; private: string }, path: string): KeyPair {
  const publicKey = Buffer.from(pair.public, 'base64');
  const privateRaw = Buffer.from(pair.private, 'base64');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { kty: 'OKP', crv: curve, d: privateRaw.toString('base64url'), x: publicKey.toString('base64url') }, format: 'jwk' });
  } catch {
    r.fail(path, `not an ${curve} private key`);
  }
  // node:crypto takes `x` as given: derive the public key again to know that the pair is one.
  const derived = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (derived !== publicKey.toString('base64url')) r.fail(`${path}.public`, 'is not the public key of the private key beside it');
  return { privateKey, publicKey, privateRaw };
}

function readIdentityFile(bytes: Buffer, where: string): { created: string; sign: KeyPair; seal: KeyPair } {
  const r = new Reader('IDENTITY_INVALID', where);
  const o = r.object(parseIdentityJson(bytes, where), '', ['type', 'version', 'created', 'sign', 'seal']);
  if (o.type !== IDENTITY_TYPE) r.fail('type', `expected ${JSON.stringify(IDENTITY_TYPE)}`);
  r.required(o, 'version', '', (v, p) => r.integer(v, p, 1, 1));
  const pair = (v: unknown, p: string) => {
    const k = r.object(v, p, ['public', 'private']);
    return { public: r.required(k, 'public', p, (x, q) => readRawKey(r, x, q)), private: r.required(k, 'private', p, (x, q) => readRawKey(r, x, q)) };
  };
  return {
    created: r.required(o, 'created', '', (v, p) => r.string(v, p, ISO_DATE, 'expected an ISO 8601 UTC time')),
    sign: importPair(r, 'Ed25519', r.required(o, 'sign', '', pair), 'sign'),
    seal: importPair(r, 'X25519', r.required(o, 'seal', '', pair), 'seal'),
  };
}

function parseIdentityJson(bytes: Buffer, where: string): unknown {
  try {
    return parseJson(bytes, where);
  } catch (err) {
    throw new BootosError('IDENTITY_INVALID', `${where}: not valid JSON`, { cause: err });
  }
}

export class DeviceIdentity {
  /** Lowercase hex of the first 16 bytes of sha256 of the raw Ed25519 public key. */
  readonly id: string;
  /** The public keys as the devices document carries them (base64 of 32 raw bytes). */
  readonly keys: DeviceKeys;
  /** When the identity was made. */
  readonly created: string;

  private constructor(
    created: string,
    private readonly signPair: KeyPair,
    private readonly sealPair: KeyPair,
  ) {
    this.created = created;
    this.id = deviceIdOf(signPair.publicKey);
    this.keys = { sign: signPair.publicKey.toString('base64'), seal: sealPair.publicKey.toString('base64') };
  }

  /**
   * The identity kept in `store`, or a new one made and stored when there is none (`made` says which). A damaged
   * file is IDENTITY_INVALID and is never replaced here: a new identity would silently lose the enrolment.
   */
  static async open(store: KeyStore, now: () => number = Date.now): Promise<{ identity: DeviceIdentity; made: boolean }> {
    const bytes = await store.load();
    if (bytes) {
      const file = readIdentityFile(bytes, store.location);
      return { identity: new DeviceIdentity(file.created, file.sign, file.seal), made: false };
    }
    const identity = new DeviceIdentity(isoTime(now()), newPair('ed25519'), newPair('x25519'));
    await store.save(Buffer.from(`${JSON.stringify(identity.file(), null, 2)}\n`));
    return { identity, made: true };
  }

  private file(): IdentityFile {
    return {
      type: IDENTITY_TYPE,
      version: 1,
      created: this.created,
      sign: { public: this.keys.sign, private: this.signPair.privateRaw.toString('base64') },
      seal: { public: this.keys.seal, private: this.sealPair.privateRaw.toString('base64') },
    };
  }

  /** The X25519 private key, for unsealing content keys sealed to this device (encrypted images). */
  get sealPrivateKey(): KeyObject {
    return this.sealPair.privateKey;
  }

  /** The raw 32-byte X25519 public key. */
  get sealPublicKey(): Buffer {
    return Buffer.from(this.sealPair.publicKey);
  }

  /** The Ed25519 private key (signing: the enrolment request; a client certificate later). */
  get signPrivateKey(): KeyObject {
    return this.signPair.privateKey;
  }

  /** The raw 32-byte Ed25519 public key. */
  get signPublicKey(): Buffer {
    return Buffer.from(this.signPair.publicKey);
  }

  /** An Ed25519 signature by the device key, base64. */
  sign(message: Buffer): string {
    return sign(null, message, this.signPair.privateKey).toString('base64');
  }

  /** The request an administrator hands to `bootos device enroll`, signed by the device key. */
  enrolmentRequest(about: { hostname?: string; arch?: string } = {}): EnrolmentRequest {
    const body: EnrolmentRequestBody = {
      type: ENROLMENT_REQUEST_TYPE,
      id: this.id,
      keys: { ...this.keys },
      created: this.created,
      ...(about.hostname ? { hostname: about.hostname.slice(0, 253).replace(/[^\x20-\x7e]/g, '?') } : {}),
      ...(about.arch ? { arch: about.arch } : {}),
    };
    return { ...body, sig: this.sign(canonicalBytes(body)) };
  }
}
