// OCI image layout and image-spec documents, as bootos writes and reads them.
// Everything fetched from a registry goes through the guards below before any field is used.
import { Reader, SHA256_DIGEST } from '../core/guard.js';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  config: 'application/vnd.oci.image.config.v1+json',
} as const;

export const ANNOTATION = {
  refName: 'org.opencontainers.image.ref.name',
  title: 'org.opencontainers.image.title',
  version: 'org.opencontainers.image.version',
  imageName: 'dev.bootos.image.name',
} as const;


export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: typeof MEDIA.manifest;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: typeof MEDIA.index;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

const read = (where: string) => new Reader('REGISTRY_INVALID', where);

function readAnnotations(r: Reader, value: unknown, path: string): Record<string, string> {
  const object = r.object(value, path);
  for (const [key, v] of Object.entries(object)) r.string(v, `${path}.${key}`);
  return object as Record<string, string>;
}

export function readDescriptor(r: Reader, value: unknown, path: string): Descriptor {
  const o = r.object(value, path);
  const descriptor: Descriptor = {
    mediaType: r.required(o, 'mediaType', path, (v, p) => r.string(v, p)),
    digest: r.required(o, 'digest', path, (v, p) => r.string(v, p, SHA256_DIGEST, 'expected sha256:<64 hex>')),
    size: r.required(o, 'size', path, (v, p) => r.integer(v, p)),
  };
  const platform = r.optional(o, 'platform', path, (v, p) => r.object(v, p));
  if (platform) {
    descriptor.platform = {
      architecture: r.required(platform, 'architecture', `${path}.platform`, (v, p) => r.string(v, p)),
      os: r.required(platform, 'os', `${path}.platform`, (v, p) => r.string(v, p)),
    };
  }
  const annotations = r.optional(o, 'annotations', path, (v, p) => readAnnotations(r, v, p));
  if (annotations) descriptor.annotations = annotations;
  return descriptor;
}

export function readManifest(value: unknown, where = 'manifest'): ImageManifest {
  const r = read(where);
  const o = r.object(value, '');
  r.required(o, 'schemaVersion', '', (v, p) => (v === 2 ? v : r.fail(p, 'expected 2')));
  r.required(o, 'mediaType', '', (v, p) => (v === MEDIA.manifest ? v : r.fail(p, `expected ${MEDIA.manifest}`)));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: r.required(o, 'config', '', (v, p) => readDescriptor(r, v, p)),
    layers: r.required(o, 'layers', '', (v, p) => r.array(v, p).map((d, i) => readDescriptor(r, d, `${p}[${i}]`))),
  };
  const annotations = r.optional(o, 'annotations', '', (v, p) => readAnnotations(r, v, p));
  if (annotations) manifest.annotations = annotations;
  return manifest;
}

export function readIndex(value: unknown, where = 'index'): ImageIndex {
  const r = read(where);
  const o = r.object(value, '');
  r.required(o, 'schemaVersion', '', (v, p) => (v === 2 ? v : r.fail(p, 'expected 2')));
  const mediaType = o.mediaType;
  if (mediaType !== undefined && mediaType !== MEDIA.index) r.fail('mediaType', `expected ${MEDIA.index}`);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: r.required(o, 'manifests', '', (v, p) => r.array(v, p).map((d, i) => readDescriptor(r, d, `${p}[${i}]`))),
  };
  const annotations = r.optional(o, 'annotations', '', (v, p) => readAnnotations(r, v, p));
  if (annotations) index.annotations = annotations;
  return index;
}

/** "sha256:<hex>" → "blobs/sha256/<hex>" (the digest must already have passed SHA256_DIGEST). */
export function blobPath(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`;
}
