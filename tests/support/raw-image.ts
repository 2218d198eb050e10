// Publishes an image whose layer is given as raw bytes (a hand-made, possibly hostile archive) into a test registry,
// with a valid config, manifest and index, so that it goes through the real trust and pull path.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseImageSpec } from '../../fetcher/src/formats/image-spec.js';
import { addToIndex, initLayout, writeJsonBlob } from '../../fetcher/src/publish/layout.js';
import { MEDIA, blobPath, type Descriptor } from '../../fetcher/src/formats/oci.js';
import { toOciConfig } from '../../fetcher/src/formats/oci-config.js';

export async function publishRawImage(
  registryDir: string,
  name: string,
  layers: Buffer[],
  options: {
    allowSetuid?: boolean;
    version?: string;
    mediaType?: string;
    spec?: Record<string, unknown>;
    /** The index entry's platform (default: the config's); null: an entry without one. */
    platform?: string | null;
    /** The config's architecture (default amd64). */
    configArchitecture?: 'amd64' | 'arm64';
  } = {},
): Promise<{ digest: string; manifest: Descriptor; layers: Descriptor[] }> {
  await initLayout(registryDir);
  const { config } = parseImageSpec({ name, version: options.version ?? '1.0.0', entrypoint: ['/app/run'], allowSetuid: options.allowSetuid ?? false, ...options.spec }, 'test image');
  const layerDescriptors: Descriptor[] = [];
  for (const bytes of layers) {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await writeFile(join(registryDir, blobPath(digest)), bytes);
    layerDescriptors.push({ mediaType: options.mediaType ?? MEDIA.layerGzip, digest, size: bytes.length });
  }
  if (options.configArchitecture) config.architecture = options.configArchitecture;
  const configDescriptor = await writeJsonBlob(registryDir, MEDIA.config, toOciConfig(config, layerDescriptors.map((l) => l.digest)) /* diff_ids: the device checks only their count */);
  const manifest = await writeJsonBlob(registryDir, MEDIA.manifest, { schemaVersion: 2, mediaType: MEDIA.manifest, config: configDescriptor, layers: layerDescriptors });
  const index = await writeJsonBlob(registryDir, MEDIA.index, {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [options.platform === null ? manifest : { ...manifest, platform: { architecture: options.platform ?? config.architecture, os: 'linux' } }],
  });
  await addToIndex(registryDir, name, config.version, index);
  return { digest: index.digest, manifest, layers: layerDescriptors };
}
