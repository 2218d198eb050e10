// The device identity as an X.509 certificate, for mutual TLS (the registry client's `cert`/`key`, the pool's
// connections between agents): self-signed by the device's Ed25519 key (RFC 8410), subject and issuer CN = the device
// id, valid from the identity's creation with no end (RFC 5280's 99991231235959Z: the devices document's expiry and
// revocation rule instead), key usage digitalSignature, extended key usage clientAuth and serverAuth. Node has no
// API that writes a certificate, so its few DER structures are written here (docs/decisions.md); Ed25519 signatures
// are deterministic, so the same identity always gives the same certificate, byte for byte.
import { createHash, createPublicKey, sign, X509Certificate } from 'node:crypto';
import type { DeviceIdentity } from './identity.js';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const OID = {
  ed25519: Buffer.from('06032b6570', 'hex'), // 1.3.101.112
  commonName: Buffer.from('0603550403', 'hex'), // 2.5.4.3
  basicConstraints: Buffer.from('0603551d13', 'hex'), // 2.5.29.19
  keyUsage: Buffer.from('0603551d0f', 'hex'), // 2.5.29.15
  extKeyUsage: Buffer.from('0603551d25', 'hex'), // 2.5.29.37
  clientAuth: Buffer.from('06082b06010505070302', 'hex'), // 1.3.6.1.5.5.7.3.2
  serverAuth: Buffer.from('06082b06010505070301', 'hex'), // 1.3.6.1.5.5.7.3.1
};
const TRUE = Buffer.from('0101ff', 'hex');

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
function time(iso: string): Buffer {
  const digits = iso.replace(/\.\d+Z$/, 'Z').replace(/[-:T]/g, '');
  return Number(iso.slice(0, 4)) < 2050 ? tlv(0x17, Buffer.from(digits.slice(2))) : tlv(0x18, Buffer.from(digits));
}

function extension(oid: Buffer, critical: boolean, value: Buffer): Buffer {
  return seq(oid, ...(critical ? [TRUE] : []), tlv(0x04, value));
}

export interface IdentityCertificate {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key (the device's Ed25519 key). */
  key: string;
  /** Hex sha256 of the certificate's DER bytes. */
  fingerprint: string;
}

/** The device's self-signed certificate and its key, for TLS. */
export function identityCertificate(identity: DeviceIdentity): IdentityCertificate {
  const algorithm = seq(OID.ed25519);
  const name = seq(tlv(0x31, seq(OID.commonName, tlv(0x0c, Buffer.from(identity.id)))));
  // The serial: the device id's 16 bytes, a leading zero when the first has its high bit set (DER: positive, minimal).
  const id = Buffer.from(identity.id, 'hex');
  const serial = tlv(0x02, ...(id[0]! >= 0x80 ? [Buffer.from([0])] : []), id);
  const spki = createPublicKey(identity.signPrivateKey).export({ format: 'der', type: 'spki' });
  const extensions = tlv(
    0xa3,
    seq(
      extension(OID.basicConstraints, true, seq()),
      extension(OID.keyUsage, true, Buffer.from('03020780', 'hex')), // digitalSignature
      extension(OID.extKeyUsage, false, seq(OID.clientAuth, OID.serverAuth)),
    ),
  );
  const tbs = seq(tlv(0xa0, tlv(0x02, Buffer.from([2]))), serial, algorithm, name, seq(time(identity.created), tlv(0x18, Buffer.from('99991231235959Z'))), name, spki, extensions);
  const signature = sign(null, tbs, identity.signPrivateKey);
  const der = seq(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  return { cert, key: identity.signPrivateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), fingerprint: createHash('sha256').update(der).digest('hex') };
}

/**
 * The raw Ed25519 public key of a peer's certificate (DER, as `tlsSocket.getPeerCertificate().raw` gives it), so that
 * a bootos peer can look its device id up in the devices document; null when it is not an Ed25519 certificate.
 */
export function certificateSignKey(der: Buffer): Buffer | null {
  try {
    const key = new X509Certificate(der).publicKey;
    if (key.asymmetricKeyType !== 'ed25519') return null;
    return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
  } catch {
    return null;
  }
}
