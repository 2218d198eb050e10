// The publisher: images/<name>/ → layer, config, manifest and index blobs in the registry directory.
// Deterministic: the same folder gives the same digests on any machine, from any path, at any time.
import { resolve, join } from 'node:path';
import { stat } from 'node:fs/promises';
import { ARCH_TABLE, OCI_ARCHES, hostArch, type OciArch } from '../core/arch.js';
import { BootosError, errnoCode } from '../core/error.js';
import { loadImageSpec } from '../formats/image-spec.js';
import { IMAGE_LOCK_FILE } from '../formats/image-lock.js';
import { sourceDateEpoch } from '../core/source-date.js';
import { collectEntries, writeLayer, type LayerEntry } from './layer-writer.js';
import { debianLayerEntries } from './debian-layer.js';
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
  /** The platform of an image with `debian:` packages (default: this machine's); other images are for any. */
  arch?: OciArch;
}

export async function publishImage(imageDir: string, registryDir: string, options: PublishOptions = {}): Promise<PublishResult> {
  const spec = await loadImageSpec(imageDir);
  // An image with Debian packages is for one platform (for now: one per publish).
  const arch = spec.debian ? (options.arch ?? ARCH_TABLE[hostArch()].oci) : null;
  const config = arch ? { ...spec.config, architecture: arch } : spec.config;
  await initLayout(registryDir);
  const epoch = options.epoch ?? sourceDateEpoch();
  const layers: Descriptor[] = [];
  if (arch) {
    // The packages' layer under the image's own files.
    const debian = await debianLayerEntries(imageDir, spec, arch, options.onProgress);
    options.onProgress?.(`${config.name}: packing ${Object.keys(debian.packages).length} Debian packages for ${arch} (${debian.entries.length} entries, ${debian.unpackedBytes} bytes)`);
    const written = await writeLayer(debian.entries, join(registryDir, 'blobs', 'sha256'), epoch);
    await commitBlobFile(registryDir, written.path, written.digest);
    layers.push({ mediaType: MEDIA.layerGzip, digest: written.digest, size: written.size });
  }

  const entries: LayerEntry[] = IMAGE_SKELETON.map((path) => ({ path, type: 'directory' }));
  for (const { from, to } of spec.files) {
    const source = resolve(imageDir, from);
    try {
      await stat(source);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new BootosError('IMAGE_INVALID', `${join(imageDir, 'image.yaml')}: files: ${from} does not exist`);
      throw err;
    }
    // image.yaml and image.lock.json describe the image; they are not part of it.
    entries.push(...(await collectEntries(source, to, (rel) => from === '.' && (rel === 'image.yaml' || rel === IMAGE_LOCK_FILE))));
  }
  options.onProgress?.(`${config.name}: packing ${entries.length} entries`);
  const layer = await writeLayer(entries, join(registryDir, 'blobs', 'sha256'), epoch);
  await commitBlobFile(registryDir, layer.path, layer.digest);
  layers.push({ mediaType: MEDIA.layerGzip, digest: layer.digest, size: layer.size });

  const configDescriptor = await writeJsonBlob(registryDir, MEDIA.config, config);
  const annotations = { [ANNOTATION.title]: config.name, [ANNOTATION.version]: config.version };
  const manifest = await writeJsonBlob(registryDir, MEDIA.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: configDescriptor,
    layers,
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
  return { name: config.name, version: config.version, digest: index.digest, size: index.size, manifest, layers };
}
