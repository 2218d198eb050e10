// The publisher: images/<name>/ → layer, config, manifest and index blobs in the registry directory.
// Deterministic: the same folder gives the same digests on any machine, from any path, at any time.
import { resolve, join } from 'node:path';
import { stat } from 'node:fs/promises';
import { OCI_ARCHES } from '../core/arch.js';
import { BootosError, errnoCode } from '../core/error.js';
import { loadImageSpec } from '../formats/image-spec.js';
import { sourceDateEpoch } from '../core/source-date.js';
import { collectEntries, writeLayer, type LayerEntry } from './layer-writer.js';
import { addToIndex, commitBlobFile, initLayout, writeJsonBlob } from './layout.js';
import { ANNOTATION, MEDIA, type Descriptor } from '../formats/oci.js';

/** Mount points every image carries, so that the runtime never has to create them in a read-only root. */
export const IMAGE_SKELETON = ['dev', 'proc', 'sys', 'tmp', 'etc', 'run', 'data', 'usr/local/bin'];

export interface PublishResult {
  name: string;
  version: string;
  /** Digest of the image's OCI index: the value a channel names. */
  digest: string;
  size: number;
  manifest: Descriptor;
  layers: Descriptor[];
}

export interface PublishOptions {
  /** Seconds since 1970 for every mtime; defaults to SOURCE_DATE_EPOCH or 2024-01-01 (core/source-date.ts). */
  epoch?: number;
  onProgress?: (message: string) => void;
}

export async function publishImage(imageDir: string, registryDir: string, options: PublishOptions = {}): Promise<PublishResult> {
  const spec = await loadImageSpec(imageDir);
  const { config } = spec;
  await initLayout(registryDir);

  // /tmp 1777 as on any Linux system: a tmpfs over it takes its mode (runc), and a non-root app must write there.
  const entries: LayerEntry[] = IMAGE_SKELETON.map((path) => ({ path, type: 'directory', ...(path === 'tmp' ? { mode: 0o1777 } : {}) }));
  for (const { from, to } of spec.files) {
    const source = resolve(imageDir, from);
    try {
      await stat(source);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new BootosError('IMAGE_INVALID', `${join(imageDir, 'image.yaml')}: files: ${from} does not exist`);
      throw err;
    }
    // image.yaml describes the image; it is not part of it.
    entries.push(...(await collectEntries(source, to, (rel) => from === '.' && rel === 'image.yaml')));
  }
  options.onProgress?.(`${config.name}: packing ${entries.length} entries`);
  const layer = await writeLayer(entries, join(registryDir, 'blobs', 'sha256'), options.epoch ?? sourceDateEpoch());
  await commitBlobFile(registryDir, layer.path, layer.digest);
  const layerDescriptor: Descriptor = { mediaType: MEDIA.layerGzip, digest: layer.digest, size: layer.size };

  const configDescriptor = await writeJsonBlob(registryDir, MEDIA.config, config);
  const annotations = { [ANNOTATION.title]: config.name, [ANNOTATION.version]: config.version };
  const manifest = await writeJsonBlob(registryDir, MEDIA.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: configDescriptor,
    layers: [layerDescriptor],
    annotations,
  });
  // An architecture-independent image lists its one manifest once per platform, so that standard OCI tools,
  // which pick a manifest by platform, find it on either architecture.
  const platforms = config.architecture === 'any' ? OCI_ARCHES : [config.architecture];
  const index = await writeJsonBlob(registryDir, MEDIA.index, {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: platforms.map((architecture) => ({ ...manifest, platform: { architecture, os: 'linux' } })),
    annotations,
  });
  await addToIndex(registryDir, config.name, config.version, index);
  return { name: config.name, version: config.version, digest: index.digest, size: index.size, manifest, layers: [layerDescriptor] };
}
