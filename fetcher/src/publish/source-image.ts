// `from:` — an existing OCI or Docker image as the base of a bootos image: a local OCI layout (oci:DIR[:REF]), an
// oci-archive or docker-archive tarball (what `podman save` and `docker save` write), or a registry reference
// (oci://HOST/REPO:TAG through the OCI client). Its layers are carried byte for byte (same digests, so registries
// and office caches share them with the source), each checked against its digest on the way; its config gives the
// process defaults that image.yaml may override (compose.ts).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { ociArch, type OciArch } from '../core/arch.js';
import { BootosError, errnoCode } from '../core/error.js';
import { tempPathFor } from '../core/fs.js';
import { SHA256_DIGEST, parseJson } from '../core/guard.js';
import { withLimits } from '../core/limits.js';
import { sha256Digest } from '../core/digest.js';
import { sha256File } from '../debian/cache.js';
import type { ImageSource } from '../formats/image-spec.js';
import { MEDIA, blobPath, type Descriptor } from '../formats/oci.js';
import { OciClient } from '../source/oci-client.js';
import { commitBlobFile } from './layout.js';

/** The process fields of a source image's config that become the bootos image's defaults. */
export interface SourceProcess {
  entrypoint: string[];
  env: string[];
  workdir: string;
  user: string;
  exposedPorts: string[];
  stopSignal: string | null;
}

export interface SourcePlatform {
  architecture: OciArch;
  layers: Descriptor[];
  /** sha256 of each layer's uncompressed tar, from the source config (checked again when the layer is read). */
  diffIds: string[];
  process: SourceProcess;
}

export interface OpenedSource {
  display: string;
  platforms: SourcePlatform[];
  /** Copies a layer into the registry directory, checking its digest and size; returns the blob's path there. */
  copyLayer(layer: Descriptor, registryDir: string): Promise<string>;
  close(): Promise<void>;
}

const DOCKER = {
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  layerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  layerTar: 'application/vnd.docker.image.rootfs.diff.tar',
};
const ACCEPT = [MEDIA.index, MEDIA.manifest, DOCKER.list, DOCKER.manifest];

/** Layer media types carried as they are, under their OCI name (the bytes, hence the digest, do not change). */
const LAYER_TYPES: Record<string, string> = {
  [MEDIA.layerGzip]: MEDIA.layerGzip,
  [MEDIA.layerZstd]: MEDIA.layerZstd,
  [MEDIA.layerTar]: MEDIA.layerTar,
  [DOCKER.layerGzip]: MEDIA.layerGzip,
  [DOCKER.layerTar]: MEDIA.layerTar,
};

interface BlobReader {
  read(digest: string, maxBytes: number): Promise<Buffer>;
  stream(digest: string, size: number): AsyncIterable<Buffer>;
}

const fail = (source: string, message: string): never => {
  throw new BootosError('IMAGE_SOURCE_INVALID', `${source}: ${message}`);
};

export async function openImageSource(source: ImageSource, imageDir: string): Promise<OpenedSource> {
  if (source.kind === 'registry') return openRegistry(source.location, source.ref);
  const path = resolve(imageDir, source.path);
  const display = `${source.kind}:${source.path}${source.ref ? `:${source.ref}` : ''}`;
  try {
    await stat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') fail(display, `${path} does not exist`);
    throw err;
  }
  if (source.kind === 'oci') return openLayout(path, source.ref, display, async () => {});
  // An archive is unpacked into a private temp folder first (plain files only, names checked).
  const dir = await mkdtemp(join(tmpdir(), 'bootos-source-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await extractArchive(path, dir, display);
    const isLayout = await stat(join(dir, 'index.json')).then(() => true, () => false);
    if (source.kind === 'oci-archive' || isLayout) {
      if (!isLayout) fail(display, 'the archive holds no index.json (not an OCI layout)');
      return await openLayout(dir, source.ref, display, cleanup);
    }
    return await openDockerArchive(dir, source.ref, display, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function openLayout(dir: string, ref: string | null, display: string, close: () => Promise<void>): Promise<OpenedSource> {
  const blobs: BlobReader = {
    read: async (digest, maxBytes) => {
      const file = join(dir, blobPath(checkDigest(digest, display)));
      const bytes = await readFile(file).catch((err) => (errnoCode(err) === 'ENOENT' ? fail(display, `blob ${digest} is missing`) : Promise.reject(err)));
      if (bytes.length > maxBytes) fail(display, `blob ${digest} is larger than ${maxBytes} bytes`);
      return bytes;
    },
    stream: (digest) => createReadStream(join(dir, blobPath(checkDigest(digest, display)))),
  };
  const index = asObject(parseJson(await blobsOrFile(join(dir, 'index.json'), display), `${display} index.json`), display);
  const manifests = (Array.isArray(index.manifests) ? index.manifests : []) as Descriptor[];
  const refName = 'org.opencontainers.image.ref.name';
  const matching = ref === null ? manifests : manifests.filter((m) => m.annotations?.[refName] === ref || m.digest === ref);
  if (matching.length !== 1) {
    const names = manifests.map((m) => m.annotations?.[refName]).filter(Boolean);
    fail(display, ref === null ? `the layout holds ${manifests.length} images; name one (:REF) of: ${names.join(', ') || '(no names)'}` : `no image named ${ref} in the layout (it has: ${names.join(', ') || 'none'})`);
  }
  const platforms = await readPlatforms(blobs, matching[0]!, display);
  return { display, platforms, copyLayer: (layer, registryDir) => copyBlob(blobs, layer, registryDir, display), close };
}

async function openRegistry(location: string, ref: string): Promise<OpenedSource> {
  const client = new OciClient(location);
  const display = `${client.location}${ref.startsWith('sha256:') ? '@' : ':'}${ref}`;
  const blobs: BlobReader = {
    read: async (digest, maxBytes) => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of client.blobChunks(checkDigest(digest, display), maxBytes)) {
        size += chunk.length;
        if (size > maxBytes) fail(display, `blob ${digest} is larger than ${maxBytes} bytes`);
        chunks.push(chunk);
      }
      return Buffer.concat(chunks);
    },
    stream: (digest, size) => client.blobChunks(checkDigest(digest, display), size),
  };
  try {
    const { bytes, mediaType } = await client.getManifest(ref, ACCEPT);
    const digest = sha256Digest(bytes);
    if (ref.startsWith('sha256:') && digest !== ref) fail(display, `the registry's manifest has digest ${digest}`);
    const doc = asObject(parseJson(bytes, display), display);
    const top: Descriptor = { mediaType: (doc.mediaType as string) ?? mediaType, digest, size: bytes.length };
    const platforms = await readPlatforms({ ...blobs, read: async (d, max) => (d === digest ? bytes : blobs.read(d, max)) }, top, display, client);
    return { display, platforms, copyLayer: (layer, registryDir) => copyBlob(blobs, layer, registryDir, display), close: async () => client.close() };
  } catch (err) {
    client.close();
    throw err;
  }
}

/** An index (or Docker manifest list) → one entry per linux platform bootos runs; a single manifest → its own. */
async function readPlatforms(blobs: BlobReader, top: Descriptor, display: string, client?: OciClient): Promise<SourcePlatform[]> {
  const limits = withLimits();
  const readDoc = async (d: Descriptor) => {
    // In a registry, manifests are under manifests/, not blobs/; in a layout both are blobs.
    const bytes = client && d.mediaType !== MEDIA.config ? (await client.getManifest(d.digest, ACCEPT)).bytes : await blobs.read(d.digest, limits.maxManifestBytes);
    if (sha256Digest(bytes) !== d.digest) fail(display, `${d.digest} does not match its bytes`);
    return asObject(parseJson(bytes, `${display} ${d.digest}`), display);
  };
  const doc = await readDoc(top);
  const type = (doc.mediaType as string | undefined) ?? top.mediaType;
  if (type === MEDIA.index || type === DOCKER.list || Array.isArray(doc.manifests)) {
    const out: SourcePlatform[] = [];
    for (const d of doc.manifests as Descriptor[]) {
      const arch = d.platform?.os === 'linux' ? ociArch(d.platform.architecture) : undefined;
      if (!arch || out.some((p) => p.architecture === arch) || (d as { platform?: { variant?: string } }).platform?.variant === 'v7') continue;
      out.push(await readManifestPlatform(await readDoc(d), blobs, display, arch));
    }
    if (out.length === 0) fail(display, 'the index has no linux/amd64 or linux/arm64 image');
    return out;
  }
  return [await readManifestPlatform(doc, blobs, display, null)];
}

async function readManifestPlatform(manifest: Record<string, unknown>, blobs: BlobReader, display: string, arch: OciArch | null): Promise<SourcePlatform> {
  const configDescriptor = manifest.config as Descriptor | undefined;
  if (!configDescriptor?.digest || !Array.isArray(manifest.layers)) fail(display, 'not an image manifest (no config or layers)');
  const configBytes = await blobs.read(configDescriptor!.digest, withLimits().maxConfigBytes);
  if (sha256Digest(configBytes) !== configDescriptor!.digest) fail(display, 'its config does not match its digest');
  const config = asObject(parseJson(configBytes, `${display} config`), display);
  const layers = (manifest.layers as Descriptor[]).map((l) => layerDescriptor(l, display));
  return fromConfig(config, layers, arch, display);
}

function fromConfig(config: Record<string, unknown>, layers: Descriptor[], arch: OciArch | null, display: string): SourcePlatform {
  const architecture = arch ?? ociArch(String(config.architecture)) ?? fail(display, `architecture ${String(config.architecture)} is not one bootos runs (amd64, arm64)`);
  const c = (config.config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const diffIds = strings((config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids);
  if (diffIds.length !== layers.length) fail(display, `its config lists ${diffIds.length} diff_ids for ${layers.length} layers`);
  return {
    architecture,
    layers,
    diffIds,
    process: {
      entrypoint: [...strings(c.Entrypoint), ...strings(c.Cmd)],
      env: strings(c.Env),
      workdir: typeof c.WorkingDir === 'string' && c.WorkingDir ? c.WorkingDir : '/',
      user: typeof c.User === 'string' ? c.User : '',
      exposedPorts: Object.keys((c.ExposedPorts as object | undefined) ?? {}),
      stopSignal: typeof c.StopSignal === 'string' && c.StopSignal ? c.StopSignal : null,
    },
  };
}

function layerDescriptor(l: Descriptor, display: string): Descriptor {
  const mediaType = LAYER_TYPES[l.mediaType] ?? fail(display, `layer ${l.digest} has media type ${l.mediaType}, which bootos does not carry (tar, tar+gzip or tar+zstd only)`);
  if (!Number.isSafeInteger(l.size) || l.size < 0) fail(display, `layer ${l.digest} has no valid size`);
  return { mediaType, digest: checkDigest(l.digest, display), size: l.size };
}

/** `docker save` / `podman save` (docker-archive): manifest.json naming a config file and layer tar files. */
async function openDockerArchive(dir: string, ref: string | null, display: string, close: () => Promise<void>): Promise<OpenedSource> {
  const list = parseJson(await blobsOrFile(join(dir, 'manifest.json'), display), `${display} manifest.json`);
  if (!Array.isArray(list) || list.length === 0) fail(display, 'manifest.json lists no image');
  const entries = list as { Config?: string; RepoTags?: string[]; Layers?: string[] }[];
  const entry = ref === null ? (entries.length === 1 ? entries[0] : undefined) : entries.find((e) => e.RepoTags?.some((t) => t === ref || t.endsWith(`/${ref}`)));
  if (!entry?.Config || !entry.Layers) fail(display, ref === null ? `the archive holds ${entries.length} images; name one (:REF)` : `no image tagged ${ref} in the archive`);
  const file = (name: string) => {
    if (name.startsWith('/') || name.split('/').includes('..')) fail(display, `manifest.json names ${name}, outside the archive`);
    return join(dir, name);
  };
  const config = asObject(parseJson(await blobsOrFile(file(entry!.Config!), display), `${display} config`), display);
  // The layers are files of the archive: their digests are their sha256 (uncompressed tar: digest = diff_id).
  const byDigest = new Map<string, string>();
  const layers: Descriptor[] = [];
  for (const name of entry!.Layers!) {
    const path = file(name);
    const { sha256, size } = await sha256File(path);
    const digest = `sha256:${sha256}`;
    const head = Buffer.alloc(2);
    const fh = await open(path);
    await fh.read(head, 0, 2, 0).finally(() => fh.close());
    const gzip = head[0] === 0x1f && head[1] === 0x8b;
    byDigest.set(digest, path);
    layers.push({ mediaType: gzip ? MEDIA.layerGzip : MEDIA.layerTar, digest, size });
  }
  const blobs: BlobReader = {
    read: (digest) => readFile(byDigest.get(digest) ?? fail(display, `no layer ${digest}`)),
    stream: (digest) => createReadStream(byDigest.get(digest) ?? fail(display, `no layer ${digest}`)),
  };
  return { display, platforms: [fromConfig(config, layers, null, display)], copyLayer: (layer, registryDir) => copyBlob(blobs, layer, registryDir, display), close };
}

/** Streams a blob into the registry's blob folder; committed only when its size and digest match the descriptor. */
async function copyBlob(blobs: BlobReader, layer: Descriptor, registryDir: string, display: string): Promise<string> {
  const final = join(registryDir, blobPath(layer.digest));
  if (await stat(final).then((s) => s.size === layer.size, () => false)) return final;
  const tmp = tempPathFor(final);
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      Readable.from(blobs.stream(layer.digest, layer.size)),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          size += chunk.length;
          if (size > layer.size) fail(display, `layer ${layer.digest} is larger than its ${layer.size} bytes`);
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(tmp, { flags: 'wx' }),
    );
    const digest = `sha256:${hash.digest('hex')}`;
    if (size !== layer.size || digest !== layer.digest) fail(display, `layer ${layer.digest}: read ${size} bytes with digest ${digest}`);
    await commitBlobFile(registryDir, tmp, layer.digest);
    return final;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function extractArchive(file: string, dir: string, display: string): Promise<void> {
  const extract = tarExtract();
  const flowing = pipeline(createReadStream(file), extract);
  flowing.catch(() => {});
  try {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^(\.\/)+/, '');
      const parts = name.split('/').filter(Boolean);
      if (name.startsWith('/') || parts.includes('..') || parts.length === 0) {
        entry.resume();
        if (parts.length === 0) continue;
        fail(display, `the archive names ${JSON.stringify(entry.header.name)}, outside itself`);
      }
      if (entry.header.type === 'directory') {
        await mkdir(join(dir, ...parts), { recursive: true });
        entry.resume();
        continue;
      }
      if (entry.header.type !== 'file') {
        entry.resume();
        continue;
      }
      const target = join(dir, ...parts);
      await mkdir(dirname(target), { recursive: true });
      await pipeline(entry, createWriteStream(target, { flags: 'wx' }));
    }
    await flowing;
  } catch (err) {
    if (err instanceof BootosError) throw err;
    fail(display, `not a readable tar archive: ${(err as Error).message}`);
  }
}

async function blobsOrFile(path: string, display: string): Promise<Buffer> {
  return readFile(path).catch((err) => (errnoCode(err) === 'ENOENT' ? fail(display, `${path.split('/').pop()} is missing`) : Promise.reject(err)));
}

function checkDigest(digest: string, display: string): string {
  return SHA256_DIGEST.test(digest) ? digest : fail(display, `${JSON.stringify(digest)} is not a sha256 digest`);
}

function asObject(value: unknown, display: string): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : fail(display, 'a document is not a JSON object');
}
