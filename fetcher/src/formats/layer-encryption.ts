// Encrypted layers as bootos writes and reads them (docs/formats.md, ## Encrypted layers): ocicrypt's media types
// (`…+encrypted`) and one annotation on the layer descriptor that carries the cipher and the layer's content key
// sealed to each recipient. The annotation is in the manifest, so the manifest digest (signed through the channel)
// covers it, as it covers the ciphertext's digest.
import { canonicalize } from '../core/canonical-json.js';
import { Reader, parseJson } from '../core/guard.js';
import { MEDIA } from './oci.js';

export const ENCRYPTED_SUFFIX = '+encrypted';

/** The annotation on an encrypted layer's descriptor (ocicrypt names its schemes `org.opencontainers.image.enc.keys.<scheme>`). */
export const ENC_KEYS_ANNOTATION = 'org.opencontainers.image.enc.keys.bootos';

/** The one layer cipher: AES-256-GCM over 64 KiB segments, STREAM construction (store/layer-cipher.ts). */
export const LAYER_CIPHER = 'AES_256_GCM_STREAM_64K';

/** A layer's content key sealed to one recipient (trust/sealed-box.ts). Binary fields are standard base64. */
export interface SealedKey {
  /** The recipient's id (a device id, or any name the publisher gave): opaque. */
  id: string;
  /** The recipient's X25519 public key (32 bytes). */
  seal: string;
  /** The sender's ephemeral X25519 public key (32 bytes). */
  epk: string;
  /** The sealed content key: 32 bytes of key and 16 of tag. */
  box: string;
}

export interface LayerKeys {
  cipher: typeof LAYER_CIPHER;
  recipients: SealedKey[];
}

const BASE64_32 = /^[A-Za-z0-9+/]{43}=$/;
const BASE64_48 = /^[A-Za-z0-9+/]{64}$/;

/** The encrypted media type of a plain layer type (Docker's gzip layer becomes OCI's, as ocicrypt does). */
export function encryptedMediaType(plain: string): string {
  if (plain === 'application/vnd.docker.image.rootfs.diff.tar.gzip') return MEDIA.layerGzip + ENCRYPTED_SUFFIX;
  return plain + ENCRYPTED_SUFFIX;
}

export function isEncryptedMediaType(mediaType: string): boolean {
  return mediaType.endsWith(ENCRYPTED_SUFFIX);
}

/** The plain media type under the encryption. */
export function plainMediaType(mediaType: string): string {
  return isEncryptedMediaType(mediaType) ? mediaType.slice(0, -ENCRYPTED_SUFFIX.length) : mediaType;
}

export function writeLayerKeys(keys: LayerKeys): string {
  return canonicalize(keys);
}

/** Reads an encrypted layer's annotation (untrusted until the manifest's digest matched: it did, before this runs). */
export function readLayerKeys(annotations: Record<string, string> | undefined, where: string): LayerKeys {
  const r = new Reader('REGISTRY_INVALID', where);
  const text = annotations?.[ENC_KEYS_ANNOTATION];
  if (text === undefined) return r.fail('annotations', `an encrypted layer needs ${ENC_KEYS_ANNOTATION}`);
  const o = r.object(parseJson(text, `${where}: ${ENC_KEYS_ANNOTATION}`), ENC_KEYS_ANNOTATION, ['cipher', 'recipients']);
  const path = ENC_KEYS_ANNOTATION;
  r.required(o, 'cipher', path, (v, p) => r.oneOf(v, p, [LAYER_CIPHER]));
  const recipients = r.required(o, 'recipients', path, (v, p) =>
    r.array(v, p).map((item, i): SealedKey => {
      const at = `${p}[${i}]`;
      const e = r.object(item, at, ['id', 'seal', 'epk', 'box']);
      return {
        id: r.required(e, 'id', at, (x, q) => r.string(x, q, /^[\x21-\x7e]{1,256}$/, 'expected 1 to 256 printable characters')),
        seal: r.required(e, 'seal', at, (x, q) => r.string(x, q, BASE64_32, 'expected 32 bytes of base64')),
        epk: r.required(e, 'epk', at, (x, q) => r.string(x, q, BASE64_32, 'expected 32 bytes of base64')),
        box: r.required(e, 'box', at, (x, q) => r.string(x, q, BASE64_48, 'expected 48 bytes of base64')),
      };
    }),
  );
  return { cipher: LAYER_CIPHER, recipients };
}
