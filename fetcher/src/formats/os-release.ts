// The OS release: a `bootos build` output (kernel + initramfs of one architecture) as an OCI 1.1 artifact, and the
// channel's optional `os` entry that pins one per architecture (docs/formats.md, "OS release").
//   per architecture: an OCI image manifest, artifactType application/vnd.bootos.os.v1, the empty config, two
//   layers: the kernel (application/vnd.bootos.os.kernel.v1) and the initramfs (application/vnd.bootos.os.initramfs.v1)
//   over them: an OCI index (one manifest per platform) tagged bootos-os-VERSION in the registry, for OCI tools
//   the channel: os: { version, images: { amd64: {digest, size}, arm64: {digest, size} } } naming the manifests
// Everything read here is untrusted until the channel's signature and the digests say otherwise.
import { Reader, SHA256_DIGEST } from '../core/guard.js';
import { BootosError } from '../core/error.js';
import { OCI_ARCHES, type OciArch } from '../core/arch.js';
import { MEDIA, readManifest, type Descriptor } from './oci.js';

export const OS_MEDIA = {
  artifact: 'application/vnd.bootos.os.v1',
  kernel: 'application/vnd.bootos.os.kernel.v1',
  initramfs: 'application/vnd.bootos.os.initramfs.v1',
  /** The OCI 1.1 empty descriptor's media type: the config of an artifact that needs none. */
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

export const OS_ANNOTATION = {
  /** On the manifest, the index and the index.json entry: the release's version. */
  version: 'dev.bootos.os.version',
  /** On each manifest: the architecture it is for (OCI's name), so a manifest pinned under another one is refused. */
  arch: 'dev.bootos.os.arch',
} as const;

/** The registry tag (and index.json ref name) of a release. */
export const osTag = (version: string) => `bootos-os-${version}`;

/**
 * An OS version: dot-separated decimal numbers ("7", "2026.12.1"), compared number by number. systemd-boot orders
 * entries with a sort-key by `version` with strverscmp, which orders such strings the same way.
 */
export const OS_VERSION = /^(0|[1-9]\d{0,8})(\.(0|[1-9]\d{0,8})){0,3}$/;

/** <0 when a is older than b, 0 when equal, >0 when newer. Both must match OS_VERSION. */
export function compareOsVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function checkOsVersion(version: string, what: string): string {
  if (!OS_VERSION.test(version)) throw new BootosError('USAGE', `${what}: an OS version is numbers separated by dots (e.g. 7 or 2026.12.1), got ${JSON.stringify(version)}`);
  return version;
}

export interface ChannelOs {
  version: string;
  /** OCI architecture → the release's manifest for it. */
  images: Partial<Record<OciArch, { digest: string; size: number }>>;
}

/** The channel's `os` entry (called by readChannel with its Reader, so errors name `signed.os.…`). */
export function readChannelOs(r: Reader, value: unknown, path: string): ChannelOs {
  const o = r.object(value, path, ['version', 'images']);
  const version = r.required(o, 'version', path, (v, p) => r.string(v, p, OS_VERSION, 'expected dot-separated numbers, e.g. 7 or 2026.12.1'));
  const imagesObject = r.required(o, 'images', path, (v, p) => r.object(v, p, OCI_ARCHES));
  const images: ChannelOs['images'] = {};
  for (const [arch, item] of Object.entries(imagesObject)) {
    const p = `${path}.images.${arch}`;
    const i = r.object(item, p, ['digest', 'size']);
    images[arch as OciArch] = {
      digest: r.required(i, 'digest', p, (v, q) => r.string(v, q, SHA256_DIGEST, 'expected sha256:<64 hex>')),
      size: r.required(i, 'size', p, (v, q) => r.integer(v, q, 1)),
    };
  }
  if (Object.keys(images).length === 0) r.fail(`${path}.images`, 'names no architecture');
  return { version, images };
}

export interface OsManifest {
  version: string;
  arch: OciArch;
  kernel: Descriptor;
  initramfs: Descriptor;
}

/**
 * Reads one architecture's release manifest (bytes already matched the signed digest): the artifact type, the empty
 * config, exactly one kernel and one initramfs layer, and annotations that agree with what the channel says.
 */
export function readOsManifest(value: unknown, expected: { version: string; arch: OciArch }, where: string): OsManifest {
  const manifest = readManifest(value, where);
  const r = new Reader('OS_RELEASE_INVALID', where);
  const artifactType = (value as { artifactType?: unknown }).artifactType;
  if (artifactType !== OS_MEDIA.artifact) r.fail('artifactType', `expected ${OS_MEDIA.artifact}, got ${JSON.stringify(artifactType)}`);
  if (manifest.config.mediaType !== OS_MEDIA.empty) r.fail('config.mediaType', `expected ${OS_MEDIA.empty}`);
  const kernels = manifest.layers.filter((l) => l.mediaType === OS_MEDIA.kernel);
  const initramfses = manifest.layers.filter((l) => l.mediaType === OS_MEDIA.initramfs);
  if (kernels.length !== 1 || initramfses.length !== 1 || manifest.layers.length !== 2) {
    r.fail('layers', `expected one ${OS_MEDIA.kernel} and one ${OS_MEDIA.initramfs} layer, got ${manifest.layers.map((l) => l.mediaType).join(', ') || 'none'}`);
  }
  for (const [i, layer] of manifest.layers.entries()) if (layer.size < 1) r.fail(`layers[${i}].size`, 'expected at least 1 byte');
  const version = manifest.annotations?.[OS_ANNOTATION.version];
  // Mix-and-match: the manifest must be the release the signed entry says it is, for this architecture.
  if (version !== expected.version) r.fail(`annotations.${OS_ANNOTATION.version}`, `the channel pins version ${expected.version}, the manifest says ${JSON.stringify(version)}`);
  const arch = manifest.annotations?.[OS_ANNOTATION.arch];
  if (arch !== expected.arch) r.fail(`annotations.${OS_ANNOTATION.arch}`, `pinned for ${expected.arch}, the manifest says ${JSON.stringify(arch)}`);
  return { version: expected.version, arch: expected.arch, kernel: kernels[0]!, initramfs: initramfses[0]! };
}

/** The manifest a publisher writes (canonical JSON is applied by the caller). */
export function osManifest(version: string, arch: OciArch, kernel: Descriptor, initramfs: Descriptor, emptyConfig: Descriptor): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    artifactType: OS_MEDIA.artifact,
    config: emptyConfig,
    layers: [kernel, initramfs],
    annotations: { [OS_ANNOTATION.version]: version, [OS_ANNOTATION.arch]: arch },
  };
}
