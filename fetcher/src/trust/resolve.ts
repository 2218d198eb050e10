// From a verified channel to one image's manifest and config, verifying every hop by digest and size.
import { BootosError } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import type { ImageConfig } from '../formats/image-config.js';
import { readOciConfig } from '../formats/oci-config.js';
import { withLimits, type Limits } from '../core/limits.js';
import { ARCH_TABLE, hostArch, ociArch } from '../core/arch.js';
import { plainMediaType } from '../formats/layer-encryption.js';
import { MEDIA, readIndex, readManifest, type Descriptor, type ImageManifest } from '../formats/oci.js';
import { type RegistrySource } from '../source/source.js';
import type { ChannelSigned } from '../formats/trust-docs.js';
import { fetchVerifiedBlob } from './trust.js';

export interface ResolvedImage {
  name: string;
  /** The digest the channel pins (the image's OCI index). */
  digest: string;
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

export function channelImage(channel: ChannelSigned, name: string): { digest: string; size: number } {
  const image = channel.images[name];
  // Only what the channel signs can be pulled: a name it does not pin is refused, never guessed.
  if (!image) throw new BootosError('IMAGE_NOT_IN_CHANNEL', `channel ${channel.name} (version ${channel.version}) does not name image ${name}`);
  return image;
}

export async function resolveImage(
  source: RegistrySource,
  channel: ChannelSigned,
  name: string,
  arch: string = ARCH_TABLE[hostArch()].oci,
  limitOverrides: Partial<Limits> = {},
): Promise<ResolvedImage> {
  const limits = withLimits(limitOverrides);
  const pinned = channelImage(channel, name);
  const want = ociArch(arch);
  if (!want) throw new BootosError('USAGE', `unknown architecture ${arch}: use x86_64 or aarch64`);
  if (pinned.size > limits.maxManifestBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${name}: its index is larger than the ${limits.maxManifestBytes}-byte cap`);
  const top = parseJson(await fetchVerifiedBlob(source, pinned, `${name} index`), `${name} index`);
  const mediaType = (top as { mediaType?: unknown }).mediaType;
  let manifestDescriptor: Descriptor;
  if (mediaType === MEDIA.manifest) {
    manifestDescriptor = { mediaType: MEDIA.manifest, ...pinned };
  } else {
    const index = readIndex(top, `${name} index`);
    // Only a manifest that names this platform: one without a platform is not taken as "any".
    const match = index.manifests.find((d) => d.mediaType === MEDIA.manifest && d.platform?.architecture === want && d.platform.os === 'linux');
    if (!match) throw new BootosError('PLATFORM_NOT_FOUND', `${name}: no manifest for linux/${want}`);
    manifestDescriptor = match;
  }
  if (manifestDescriptor.size > limits.maxManifestBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${name}: its manifest is larger than the ${limits.maxManifestBytes}-byte cap`);
  const manifest = readManifest(parseJson(await fetchVerifiedBlob(source, manifestDescriptor, `${name} manifest`), `${name} manifest`), `${name} manifest`);
  if (manifest.config.mediaType !== MEDIA.config) {
    throw new BootosError('MEDIA_TYPE', `${name}: config media type is ${manifest.config.mediaType}, expected ${MEDIA.config}`);
  }
  for (const layer of manifest.layers) {
    // Encrypted layers (`…+encrypted`, formats/layer-encryption.ts) wrap one of the same three.
    const plain = plainMediaType(layer.mediaType);
    if (plain !== MEDIA.layerGzip && plain !== MEDIA.layerZstd && plain !== MEDIA.layerTar) {
      throw new BootosError('MEDIA_TYPE', `${name}: layer ${layer.digest} has media type ${layer.mediaType}; bootos reads tar layers, plain, gzip or zstd, each maybe +encrypted`);
    }
  }
  if (manifest.config.size > limits.maxConfigBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${name}: its config is larger than the ${limits.maxConfigBytes}-byte cap`);
  const config = readOciConfig(parseJson(await fetchVerifiedBlob(source, manifest.config, `${name} config`), `${name} config`), manifest.layers.length, `${name} config`);
  if (config.architecture !== want) throw new BootosError('PLATFORM_NOT_FOUND', `${name}: the manifest for linux/${want} leads to a config for linux/${config.architecture}`);
  if (config.name !== name) throw new BootosError('REGISTRY_INVALID', `${name}: the channel's digest leads to an image named ${config.name}`);
  return { name, digest: pinned.digest, manifestDescriptor, manifest, config };
}
