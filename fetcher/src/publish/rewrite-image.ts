// A published image written again with other layer descriptors: each platform's manifest gets the layers that
// `mapLayer` returns (and keeps its config and annotations), and the index gets the new manifests. Used to encrypt
// a plain image into the registry (encrypt-layers.ts) and to re-wrap an encrypted one's keys (rewrap.ts). Reads
// from `fromDir` (checking every document against its digest) and writes into `toDir` (the config blob copied
// when the two differ); layer blobs are whatever `mapLayer` writes — nothing when it only changes annotations.
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Digest } from '../core/digest.js';
import { BootosError } from '../core/error.js';
import { exists, tempPathFor } from '../core/fs.js';
import { parseJson } from '../core/guard.js';
import { MEDIA, blobPath, readIndex, readManifest, type Descriptor } from '../formats/oci.js';
import { commitBlobFile, writeJsonBlob } from './layout.js';

export interface RewrittenImage {
  index: Descriptor;
  platforms: { architecture: string; manifest: Descriptor; layers: Descriptor[] }[];
}

async function readJsonBlob(dir: string, descriptor: Descriptor, what: string): Promise<unknown> {
  const bytes = await readFile(join(dir, blobPath(descriptor.digest)));
  if (sha256Digest(bytes) !== descriptor.digest) throw new BootosError('DIGEST_MISMATCH', `${what} ${descriptor.digest} in ${dir} does not match its digest`);
  return parseJson(bytes, `${what} ${descriptor.digest}`);
}

export async function rewriteImage(
  fromDir: string,
  indexDigest: string,
  toDir: string,
  mapLayer: (layer: Descriptor) => Promise<Descriptor>,
): Promise<RewrittenImage> {
  const indexBytes = await readFile(join(fromDir, blobPath(indexDigest)));
  const index = readIndex(await readJsonBlob(fromDir, { mediaType: MEDIA.index, digest: indexDigest, size: indexBytes.length }, 'image index'));
  // A layer shared by several platforms (an `any` image) is mapped once, so they share the result too.
  const mapped = new Map<string, Promise<Descriptor>>();
  const platforms: RewrittenImage['platforms'] = [];
  for (const entry of index.manifests) {
    const manifest = readManifest(await readJsonBlob(fromDir, entry, 'manifest'));
    const layers: Descriptor[] = [];
    for (const layer of manifest.layers) {
      if (!mapped.has(layer.digest)) mapped.set(layer.digest, mapLayer(layer));
      layers.push(await mapped.get(layer.digest)!);
    }
    if (fromDir !== toDir && !(await exists(join(toDir, blobPath(manifest.config.digest))))) {
      const tmp = tempPathFor(join(toDir, blobPath(manifest.config.digest)));
      await copyFile(join(fromDir, blobPath(manifest.config.digest)), tmp);
      await commitBlobFile(toDir, tmp, manifest.config.digest);
    }
    const written = await writeJsonBlob(toDir, MEDIA.manifest, { ...manifest, layers });
    platforms.push({ architecture: entry.platform?.architecture ?? 'unknown', manifest: { ...written, ...(entry.platform ? { platform: entry.platform } : {}) }, layers });
  }
  const newIndex = await writeJsonBlob(toDir, MEDIA.index, { ...index, manifests: platforms.map((p) => p.manifest) });
  return { index: newIndex, platforms: platforms.map((p) => ({ ...p, manifest: { mediaType: p.manifest.mediaType, digest: p.manifest.digest, size: p.manifest.size } })) };
}
