// The publisher: images/<name>/ → layers, OCI configs, one manifest per platform and an index, in the registry
// directory. Each platform's layers are, bottom up: the `from:` source's (byte for byte), the `debian:` packages
// of that platform (one deterministic layer, from image.lock.json), then the image's own files (with the
// mount-point skeleton) — one deterministic layer. Every platform's merged root is read back
// (image-tree.ts) to check its native code and its entrypoint before anything is added to the index.
// Deterministic: the same folder gives the same digests on any machine, from any path, at any time.
// Encrypted (`encryptTo`): the image is published as above into a private temp layout, then its layers are encrypted
// into the registry (encrypt-layers.ts): no plain layer blob is ever written to the registry directory. The plain
// image's digests stay reproducible (`plainDigest`, and the config with its diff_ids is the same blob); the
// encrypted index and manifests are new at every run.
import { resolve, join } from 'node:path';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { OCI_ARCHES, type OciArch } from '../core/arch.js';
import { BootosError, errnoCode } from '../core/error.js';
import { loadImageSpec, type ImageSpec } from '../formats/image-spec.js';
import { sourceDateEpoch } from '../core/source-date.js';
import { toOciConfig } from '../formats/oci-config.js';
import { collectEntries, writeLayer, type LayerEntry } from './layer-writer.js';
import { addToIndex, commitBlobFile, initLayout, writeJsonBlob } from './layout.js';
import { ANNOTATION, MEDIA, blobPath, type Descriptor } from '../formats/oci.js';
import { ImageTree } from './image-tree.js';
import { checkNative, composeConfig } from './compose.js';
import { openImageSource, type OpenedSource, type SourcePlatform } from './source-image.js';
import { debianLayerEntries } from './debian-layer.js';
import { writeCachedLayer } from './layer-cache.js';
import { IMAGE_LOCK_FILE } from '../formats/image-lock.js';
import { encryptImage } from './encrypt-layers.js';
import type { Recipient } from './recipients.js';

/**
 * Mount points every image carries, so that the runtime never has to create them in a read-only root; /tmp is
 * sticky and world-writable (runc gives its tmpfs the mode of the directory it covers).
 */
export const IMAGE_SKELETON: { path: string; mode: number }[] = [
  ...['dev', 'proc', 'sys', 'etc', 'run', 'data', 'usr/local/bin'].map((path) => ({ path, mode: 0o755 })),
  { path: 'tmp', mode: 0o1777 },
];

/** Files of an image folder that describe the image and are not part of it. */
const RECIPE_FILES = new Set(['image.yaml', IMAGE_LOCK_FILE]);

export interface PublishResult {
  name: string;
  version: string;
  /** Digest of the image's OCI index: the value a channel names. */
  digest: string;
  size: number;
  /** The first platform's manifest and layers (the image's own layer is the last). */
  manifest: Descriptor;
  layers: Descriptor[];
  platforms: { architecture: OciArch; manifest: Descriptor; layers: Descriptor[] }[];
  /** Set when the layers are encrypted: the digest the same image has unencrypted (reproducible), and to whom. */
  encrypted?: { plainDigest: string; recipients: string[] };
}

export interface PublishOptions {
  /** Seconds since 1970 for every mtime; defaults to SOURCE_DATE_EPOCH or 2024-01-01 (core/source-date.ts). */
  epoch?: number;
  onProgress?: (message: string) => void;
  /** Encrypt every layer to these recipients (publish/recipients.ts). */
  encryptTo?: Recipient[];
}

export async function publishImage(imageDir: string, registryDir: string, options: PublishOptions = {}): Promise<PublishResult> {
  const recipients = options.encryptTo ?? [];
  if (recipients.length === 0) return publishPlain(imageDir, registryDir, options);
  // Private (0700) and outside the registry directory, which may be served as it is written.
  await initLayout(registryDir);
  const plainDir = await mkdtemp(join(tmpdir(), 'bootos-plain-'));
  try {
    const plain = await publishPlain(imageDir, plainDir, options);
    const encrypted = await encryptImage(plainDir, plain.digest, registryDir, recipients);
    await addToIndex(registryDir, plain.name, plain.version, encrypted.index);
    options.onProgress?.(`${plain.name}: layers encrypted to ${recipients.map((r) => r.id).join(', ')}: ${encrypted.index.digest}`);
    const platforms = encrypted.platforms.map((p, i) => ({ architecture: plain.platforms[i]!.architecture, manifest: p.manifest, layers: p.layers }));
    return {
      ...plain,
      digest: encrypted.index.digest,
      size: encrypted.index.size,
      manifest: platforms[0]!.manifest,
      layers: platforms[0]!.layers,
      platforms,
      encrypted: { plainDigest: plain.digest, recipients: recipients.map((r) => r.id) },
    };
  } finally {
    await rm(plainDir, { recursive: true, force: true });
  }
}

async function publishPlain(imageDir: string, registryDir: string, options: PublishOptions): Promise<PublishResult> {
  const spec = await loadImageSpec(imageDir);
  const { config } = spec;
  const progress = (m: string) => options.onProgress?.(`${config.name}: ${m}`);
  const epoch = options.epoch ?? sourceDateEpoch();
  await initLayout(registryDir);
  const source = spec.from ? await openImageSource(spec.from, imageDir) : null;
  try {
    const own = await ownEntries(spec);
    const platforms: PublishResult['platforms'] = [];
    for (const { architecture, from } of choosePlatforms(spec, source)) {
      const tree = new ImageTree();
      const layers: Descriptor[] = [];
      const diffIds: string[] = [];
      if (source && from) {
        progress(`${architecture}: ${from.layers.length} layer(s) from ${source.display}`);
        for (const [i, layer] of from.layers.entries()) {
          const diffId = await tree.addLayer(await source.copyLayer(layer, registryDir), layer.mediaType);
          if (diffId !== from.diffIds[i]) throw new BootosError('IMAGE_SOURCE_INVALID', `${source.display}: layer ${layer.digest} unpacks to ${diffId}, its config says ${from.diffIds[i]}`);
          layers.push(layer);
          diffIds.push(diffId);
        }
        if (tree.skipped.length) progress(`${architecture}: devices skip ${tree.skipped.length} device node(s) of the source: ${tree.skipped.slice(0, 5).join(', ')}${tree.skipped.length > 5 ? ', …' : ''}`);
      }
      if (spec.debian) {
        const debian = await debianLayerEntries(imageDir, spec, architecture, progress);
        progress(`${architecture}: ${Object.keys(debian.packages).length} Debian packages (${debian.entries.length} entries, ${debian.unpackedBytes} bytes)`);
        const written = await writeCachedLayer(debian.entries, registryDir, epoch);
        layers.push({ mediaType: MEDIA.layerGzip, digest: written.digest, size: written.size });
        diffIds.push(await tree.addLayer(join(registryDir, blobPath(written.digest)), MEDIA.layerGzip));
      }
      // The skeleton's mount points that the layers below do not already have.
      const entries: LayerEntry[] = [
        ...IMAGE_SKELETON.filter((d) => !tree.entries.has(d.path)).map((d): LayerEntry => ({ path: d.path, type: 'directory', mode: d.mode })),
        ...own,
      ];
      if (entries.length > 0) {
        const layer = await writeLayer(entries, join(registryDir, 'blobs', 'sha256'), epoch);
        await commitBlobFile(registryDir, layer.path, layer.digest);
        layers.push({ mediaType: MEDIA.layerGzip, digest: layer.digest, size: layer.size });
        diffIds.push(await tree.addLayer(join(registryDir, blobPath(layer.digest)), MEDIA.layerGzip));
      }
      const where = join(imageDir, 'image.yaml');
      // Without `architecture:`, an image of its own files only is `any`: it may hold no native code at all.
      const any = spec.architecture === 'any' || (spec.architecture === null && !source && !spec.debian);
      checkNative(tree, any ? null : architecture, where);
      const platformConfig = composeConfig(spec, architecture, source && from ? { display: source.display, process: from.process } : null, tree, progress);
      const configDescriptor = await writeJsonBlob(registryDir, MEDIA.config, toOciConfig(platformConfig, diffIds, new Date(epoch * 1000).toISOString()));
      const manifest = await writeJsonBlob(registryDir, MEDIA.manifest, {
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: configDescriptor,
        layers,
        annotations: annotationsOf(spec),
      });
      platforms.push({ architecture, manifest, layers });
    }
    const index = await writeJsonBlob(registryDir, MEDIA.index, {
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: platforms.map((p) => ({ ...p.manifest, platform: { architecture: p.architecture, os: 'linux' } })),
      annotations: annotationsOf(spec),
    });
    await addToIndex(registryDir, config.name, config.version, index);
    progress(`${platforms.map((p) => p.architecture).join(' + ')}: ${index.digest}`);
    const first = platforms[0]!;
    return { name: config.name, version: config.version, digest: index.digest, size: index.size, manifest: first.manifest, layers: first.layers, platforms };
  } finally {
    await source?.close();
  }
}

function annotationsOf(spec: ImageSpec): Record<string, string> {
  return { [ANNOTATION.title]: spec.config.name, [ANNOTATION.version]: spec.config.version };
}

/**
 * The platforms to publish: `architecture:` as given (any → every platform bootos runs), else the source's, else
 * every platform (Debian packages are locked for each); with a source, each must be one the source has.
 */
function choosePlatforms(spec: ImageSpec, source: OpenedSource | null): { architecture: OciArch; from: SourcePlatform | null }[] {
  const where = join(spec.dir, 'image.yaml');
  const available = source?.platforms.map((p) => p.architecture);
  const wanted = spec.architecture === 'any' || spec.architecture === null ? (available ?? [...OCI_ARCHES]) : spec.architecture;
  return wanted.map((architecture) => {
    const from = source?.platforms.find((p) => p.architecture === architecture) ?? null;
    if (source && !from) throw new BootosError('IMAGE_SOURCE_INVALID', `${where}: ${source.display} has no linux/${architecture} image (it has ${available!.join(', ')})`);
    return { architecture, from };
  });
}

/** The image folder's own files, as image.yaml's `files:` maps them. */
async function ownEntries(spec: ImageSpec): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  for (const { from, to } of spec.files) {
    const path = resolve(spec.dir, from);
    try {
      await stat(path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new BootosError('IMAGE_INVALID', `${join(spec.dir, 'image.yaml')}: files: ${from} does not exist`);
      throw err;
    }
    entries.push(...(await collectEntries(path, to, (rel) => from === '.' && RECIPE_FILES.has(rel))));
  }
  return entries;
}
