// Sealing keys (X25519) and sealed boxes with node:crypto: a message (a layer's 32-byte content key) sealed to a
// recipient's public key by a fresh ephemeral key pair, as age's X25519 recipients and NaCl's crypto_box_seal do:
//   shared = X25519(ephemeral secret, recipient public)        (all-zero: a low-order public key, refused)
//   key    = HKDF-SHA256(shared, salt = epk ‖ recipient public, info = "bootos/v1/sealed-box", 32 bytes)
//   box    = AES-256-GCM(key, nonce = 0¹², message) ‖ tag      (the key is used once, so a fixed nonce is safe)
// Opening returns null for a box that is not for this key or was altered; the caller turns that into a coded error.
// Key files: base64 of the raw 32 bytes (as the signing keys' files), or a PKCS#8 PEM (what node:crypto writes).
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { BootosError, errnoCode } from '../core/error.js';

const INFO = Buffer.from('bootos/v1/sealed-box');
const NONCE = Buffer.alloc(12);
/** PKCS#8 DER of an X25519 private key, up to the 32 raw bytes (RFC 8410). */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface SealKeyPair {
  privateKey: KeyObject;
  /** Raw 32 bytes. */
  publicKey: Buffer;
}

export function generateSealKey(): SealKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

/** The raw 32 bytes of an X25519 public key, or of the public half of a private key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
}

/** A public key given as base64 (standard) of 32 raw bytes. */
export function decodeSealPublicKey(text: string, what = 'sealing public key'): Buffer {
  const bytes = Buffer.from(text.trim(), 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== text.trim()) {
    throw new BootosError('KEY_INVALID', `${what} must be 32 bytes of base64 (an X25519 public key)`);
  }
  return bytes;
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** An X25519 private key from a key file's text: PKCS#8 PEM, or base64 of the raw 32 bytes. */
export function decodeSealPrivateKey(text: string, what = 'sealing key'): KeyObject {
  let key: KeyObject;
  try {
    if (text.includes('-----BEGIN')) {
      key = createPrivateKey(text);
    } else {
      const raw = Buffer.from(text.trim(), 'base64');
      if (raw.length !== 32 || raw.toString('base64') !== text.trim()) throw new Error('not 32 bytes of base64');
      key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
    }
  } catch (err) {
    throw new BootosError('KEY_INVALID', `${what} is not an X25519 private key (PKCS#8 PEM, or 32 bytes of base64)`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'x25519') throw new BootosError('KEY_INVALID', `${what} is a ${key.asymmetricKeyType} key, not an X25519 sealing key`);
  return key;
}

export async function loadSealPrivateKey(path: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('FILE_NOT_FOUND', `sealing key file not found: ${path}`, { cause: err });
    throw err;
  }
  return decodeSealPrivateKey(text, path);
}

/** Writes PREFIX.seal.key (base64 of the raw private key, 0600) and PREFIX.seal.pub (base64 of the public key). */
export async function writeSealKeyPair(prefix: string): Promise<SealKeyPair> {
  const pair = generateSealKey();
  const raw = pair.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_X25519_PREFIX.length);
  await writeFile(`${prefix}.seal.key`, `${raw.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  await writeFile(`${prefix}.seal.pub`, `${pair.publicKey.toString('base64')}\n`, { flag: 'wx' });
  return pair;
}

function boxKey(shared: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  if (shared.every((b) => b === 0)) throw new BootosError('KEY_INVALID', 'the X25519 public key is a low-order point');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), INFO, 32));
}

export interface SealedBox {
  /** Raw 32 bytes. */
  epk: Buffer;
  /** Sealed message ‖ 16-byte tag. */
  box: Buffer;
}

export function seal(message: Buffer, recipient: Buffer): SealedBox {
  const ephemeral = generateKeyPairSync('x25519');
  const epk = rawPublicKey(ephemeral.publicKey);
  const key = boxKey(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyObject(recipient) }), epk, recipient);
  const cipher = createCipheriv('aes-256-gcm', key, NONCE);
  const box = Buffer.concat([cipher.update(message), cipher.final(), cipher.getAuthTag()]);
  return { epk, box };
}

/** The message, or null when the box was not sealed to `privateKey` or was altered. */
export function openSealed(sealed: SealedBox, privateKey: KeyObject, publicKey = rawPublicKey(privateKey)): Buffer | null {
  if (sealed.box.length < 16 || sealed.epk.length !== 32) return null;
  let key: Buffer;
  try {
    key = boxKey(diffieHellman({ privateKey, publicKey: publicKeyObject(sealed.epk) }), sealed.epk, publicKey);
  } catch {
    return null;
  }
  const decipher = createDecipheriv('aes-256-gcm', key, NONCE);
  decipher.setAuthTag(sealed.box.subarray(-16));
  try {
    return Buffer.concat([decipher.update(sealed.box.subarray(0, -16)), decipher.final()]);
  } catch {
    return null;
  }
}
