// The registry directory: an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) plus bootos's signed
// trust documents (root.json, roots/<N>.root.json, channels/<NAME>.json). Any static web server can serve it.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Digest } from '../core/digest.js';
export { sha256Digest };
import { canonicalBytes } from '../core/canonical-json.js';
import { exists, writeFileAtomic } from '../core/fs.js';
import { BootosError, errnoCode } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { ANNOTATION, MEDIA, blobPath, readIndex, type Descriptor, type ImageIndex } from '../formats/oci.js';

export const OCI_LAYOUT = { imageLayoutVersion: '1.0.0' };

export async function initLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const layoutFile = join(dir, 'oci-layout');
  if (!(await exists(layoutFile))) await writeFileAtomic(layoutFile, JSON.stringify(OCI_LAYOUT));
  const indexFile = join(dir, 'index.json');
  if (!(await exists(indexFile))) await writeIndexJson(dir, { schemaVersion: 2, mediaType: MEDIA.index, manifests: [] });
}

/** Stores a JSON document as a blob (canonical bytes, so equal documents have equal digests). */
export async function writeJsonBlob(dir: string, mediaType: string, value: unknown): Promise<Descriptor> {
  const bytes = canonicalBytes(value);
  const digest = sha256Digest(bytes);
  const path = join(dir, blobPath(digest));
  if (!(await exists(path))) await writeFileAtomic(path, bytes);
  return { mediaType, digest, size: bytes.length };
}

/** Moves an already written, already hashed temp file into the blob store under its digest. */
export async function commitBlobFile(dir: string, tmp: string, digest: string): Promise<void> {
  const path = join(dir, blobPath(digest));
  if (await exists(path)) {
    await rm(tmp, { force: true });
    return;
  }
  await rename(tmp, path);
}

export async function readIndexJson(dir: string): Promise<ImageIndex> {
  const file = join(dir, 'index.json');
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('REGISTRY_INVALID', `${dir} is not a bootos registry (no index.json); publish an image into it first`);
    throw err;
  }
  return readIndex(parseJson(bytes, file), file);
}

export async function writeIndexJson(dir: string, index: ImageIndex): Promise<void> {
  await writeFileAtomic(join(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
}

/** Adds (or moves to the end) the entry for name:version; the last entry of a name is its newest version. */
export async function addToIndex(dir: string, name: string, version: string, descriptor: Descriptor): Promise<void> {
  const index = await readIndexJson(dir);
  const ref = `${name}-${version}`;
  index.manifests = index.manifests.filter((d) => d.annotations?.[ANNOTATION.refName] !== ref);
  index.manifests.push({
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    annotations: { [ANNOTATION.refName]: ref, [ANNOTATION.imageName]: name, [ANNOTATION.version]: version },
  });
  await writeIndexJson(dir, index);
}

export interface PublishedImage {
  name: string;
  version: string;
  digest: string;
  size: number;
}

/** The newest published version of every image name in the registry. */
export async function latestImages(dir: string): Promise<Map<string, PublishedImage>> {
  const latest = new Map<string, PublishedImage>();
  for (const d of (await readIndexJson(dir)).manifests) {
    const name = d.annotations?.[ANNOTATION.imageName];
    const version = d.annotations?.[ANNOTATION.version];
    if (name && version) latest.set(name, { name, version, digest: d.digest, size: d.size });
  }
  return latest;
}
