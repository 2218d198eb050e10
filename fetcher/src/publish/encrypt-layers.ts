// Encrypting a published image's layers: each plain layer blob (the compressed tar, byte for byte) becomes a
// ciphertext blob under a fresh random content key (store/layer-cipher.ts), with that key sealed to every recipient
// in the descriptor's annotation (formats/layer-encryption.ts). The config — with the plain layers' diff_ids — is
// carried unchanged, so it is as reproducible as a plain publish; the ciphertext, the manifests and the index are
// new at every run (random keys).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { tempPathFor } from '../core/fs.js';
import { ENC_KEYS_ANNOTATION, LAYER_CIPHER, encryptedMediaType, writeLayerKeys, type SealedKey } from '../formats/layer-encryption.js';
import { blobPath, type Descriptor } from '../formats/oci.js';
import { LayerEncipher } from '../store/layer-cipher.js';
import { seal } from '../trust/sealed-box.js';
import { commitBlobFile } from './layout.js';
import type { Recipient } from './recipients.js';
import { rewriteImage, type RewrittenImage } from './rewrite-image.js';

/** The content key sealed to each recipient. */
export function sealContentKey(contentKey: Buffer, recipients: Recipient[]): SealedKey[] {
  return recipients.map((r) => {
    const box = seal(contentKey, r.seal);
    return { id: r.id, seal: r.seal.toString('base64'), epk: box.epk.toString('base64'), box: box.box.toString('base64') };
  });
}

export function encryptedDescriptor(plain: Descriptor, ciphertext: { digest: string; size: number }, recipients: SealedKey[]): Descriptor {
  return {
    mediaType: encryptedMediaType(plain.mediaType),
    digest: ciphertext.digest,
    size: ciphertext.size,
    annotations: { ...plain.annotations, [ENC_KEYS_ANNOTATION]: writeLayerKeys({ cipher: LAYER_CIPHER, recipients }) },
  };
}

/** Encrypts the blob file `plainFile` into `registryDir`'s blobs under a new content key; returns its descriptor. */
export async function encryptLayer(plainFile: string, plain: Descriptor, registryDir: string, recipients: Recipient[]): Promise<Descriptor> {
  const contentKey = randomBytes(32);
  const tmp = tempPathFor(join(registryDir, 'blobs', 'sha256', 'layer'));
  const hash = createHash('sha256');
  let size = 0;
  const fh = await open(tmp, 'wx', 0o644);
  try {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        fh.write(chunk).then(() => done(), done);
      },
    });
    await pipeline(createReadStream(plainFile, { highWaterMark: 1 << 20 }), new LayerEncipher(contentKey), sink);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  const digest = `sha256:${hash.digest('hex')}`;
  await commitBlobFile(registryDir, tmp, digest);
  return encryptedDescriptor(plain, { digest, size }, sealContentKey(contentKey, recipients));
}

/** The image `indexDigest` of the plain layout `plainDir`, encrypted into `registryDir` for `recipients`. */
export async function encryptImage(plainDir: string, indexDigest: string, registryDir: string, recipients: Recipient[]): Promise<RewrittenImage> {
  return rewriteImage(plainDir, indexDigest, registryDir, (layer) => encryptLayer(join(plainDir, blobPath(layer.digest)), layer, registryDir, recipients));
}
