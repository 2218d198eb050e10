// From a verified channel's `os` entry to this architecture's kernel and initramfs descriptors, every hop verified by
// digest and size (formats/os-release.ts). The blobs themselves are verified while they stream (store/store.ts).
import { BootosError } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { ARCH_TABLE, hostArch, ociArch } from '../core/arch.js';
import { withLimits, type Limits } from '../core/limits.js';
import { readOsManifest, type OsManifest } from '../formats/os-release.js';
import type { ChannelSigned } from '../formats/trust-docs.js';
import { type RegistrySource } from '../source/source.js';
import { fetchVerifiedBlob } from './trust.js';

export interface ResolvedOs extends OsManifest {
  /** The manifest's digest, as the channel pins it. */
  digest: string;
}

/** The channel's OS release for `arch`, or null when the channel pins none. */
export async function resolveOsRelease(
  source: RegistrySource,
  channel: ChannelSigned,
  arch: string = ARCH_TABLE[hostArch()].oci,
  limitOverrides: Partial<Limits> = {},
): Promise<ResolvedOs | null> {
  const limits = withLimits(limitOverrides);
  const os = channel.os;
  if (!os) return null;
  const want = ociArch(arch);
  if (!want) throw new BootosError('USAGE', `unknown architecture ${arch}: use x86_64 or aarch64`);
  const pinned = os.images[want];
  if (!pinned) throw new BootosError('PLATFORM_NOT_FOUND', `channel ${channel.name}: OS release ${os.version} has no build for linux/${want}`);
  const what = `OS release ${os.version} (${want}) manifest`;
  // Endless data: the manifest is parsed in memory, so its signed size is capped first.
  if (pinned.size > limits.maxManifestBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${what} is larger than the ${limits.maxManifestBytes}-byte cap`);
  // Mix-and-match: only the bytes whose digest the channel signs are read as the manifest.
  const manifest = readOsManifest(parseJson(await fetchVerifiedBlob(source, pinned, what), what), { version: os.version, arch: want }, what);
  for (const layer of [manifest.kernel, manifest.initramfs]) {
    // Endless data: a slot on the ESP holds what its kernel and initramfs need, not what a manifest claims.
    if (layer.size > limits.maxOsFileBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${what}: layer ${layer.digest} of ${layer.size} bytes is over maxOsFileBytes (${limits.maxOsFileBytes})`);
  }
  return { ...manifest, digest: pinned.digest };
}
