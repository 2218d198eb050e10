// `bootos push`: copies a registry directory into one repository of an OCI Distribution registry (docs/fleet.md).
// Order is what keeps devices safe while a push is under way:
//   1. blobs (layers, configs, and the index/manifest bytes, so devices fetch everything by digest from /blobs/)
//   2. image manifests by digest, then each image index under its tag NAME-VERSION (the layout's ref name)
//   3. LAST the trust artifacts: roots/N (tags root-N, ascending), root.json (tag root), the devices document (tag
//      devices), channels (tags channel-NAME)
// A device reads a channel only through its tag, so it never sees a channel that names a blob not yet there.
// Everything already present (HEAD first) is skipped, so a second push of the same directory uploads nothing.
import { sha256Digest } from '../core/digest.js';
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BootosError, errnoCode } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { readIndexJson } from './layout.js';
import { ANNOTATION, MEDIA, blobPath, readIndex, readManifest, type Descriptor } from '../formats/oci.js';
import { OciClient, type OciClientOptions } from '../source/oci-client.js';
import { TAG } from '../formats/registry-url.js';
import { EMPTY_CONFIG, EMPTY_CONFIG_BYTES, TRUST_MEDIA, artifactManifest, trustArtifactFor, type TrustArtifactRef } from '../formats/trust-artifacts.js';
import { readChannel, readRoot } from '../formats/trust-docs.js';
import { DEVICES_PATH, readDevices } from '../formats/devices-doc.js';

export interface PushOptions extends OciClientOptions {
  /** Only report what would be uploaded (HEAD requests only). */
  dryRun?: boolean;
  /** Blob uploads at once. */
  concurrency?: number;
  onProgress?: (line: string) => void;
}

export interface PushResult {
  registry: string;
  dryRun: boolean;
  blobs: { uploaded: number; present: number; uploadedBytes: number };
  manifests: { uploaded: number; present: number };
  /** Image tags (NAME-VERSION) → index digest. */
  images: Record<string, string>;
  /** Trust artifact tags (root, root-N, channel-NAME) → artifact manifest digest, in push order. */
  trust: Record<string, string>;
}

interface Blob {
  digest: string;
  size: number;
  /** The bytes when they are in memory (small documents); else read from the directory. */
  bytes?: Buffer;
}

interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** What the directory holds, in push order. */
interface Plan {
  /** Layers and configs. */
  blobs: Map<string, Blob>;
  /** Image manifests and indexes, children before parents. */
  manifests: Map<string, Manifest>;
  tags: { tag: string; manifest: Manifest }[];
  trust: { ref: TrustArtifactRef; document: Buffer }[];
}

export async function pushRegistry(dir: string, location: string, options: PushOptions = {}): Promise<PushResult> {
  const { dryRun = false, concurrency = 4, onProgress = () => {}, ...clientOptions } = options;
  const plan = await planPush(dir);
  const client = new OciClient(location, { ...clientOptions, push: true });
  const result: PushResult = {
    registry: client.location,
    dryRun,
    blobs: { uploaded: 0, present: 0, uploadedBytes: 0 },
    manifests: { uploaded: 0, present: 0 },
    images: {},
    trust: {},
  };
  try {
    // Every channel must name images that will be there: pushed now, or already in the registry.
    const pushedImages = new Set(plan.tags.map((t) => t.manifest.digest));
    for (const { ref, document } of plan.trust) {
      if (ref.artifactType !== TRUST_MEDIA.channel) continue;
      const signed = readChannel(parseJson(document, ref.path), ref.path).signed;
      for (const [name, image] of Object.entries(signed.images)) {
        if (!pushedImages.has(image.digest) && !(await client.hasManifest(image.digest, MEDIA.index))) {
          throw new BootosError('REGISTRY_INVALID', `${ref.path} pins ${name} ${image.digest}, which is neither in ${dir} nor in ${client.location}`);
        }
      }
      // The OS release's per-architecture manifests likewise (children of its index, docs/os-updates.md).
      for (const [arch, manifest] of Object.entries(signed.os?.images ?? {})) {
        if (!plan.manifests.has(manifest!.digest) && !(await client.hasManifest(manifest!.digest, MEDIA.manifest))) {
          throw new BootosError('REGISTRY_INVALID', `${ref.path} pins OS release ${signed.os!.version} for ${arch} (${manifest!.digest}), which is neither in ${dir} nor in ${client.location}`);
        }
      }
    }

    // 1. Blobs: layers and configs.
    const uploadBlobs = async (blobs: Blob[]) =>
      pool(blobs, concurrency, async (blob) => {
        if (await client.hasBlob(blob.digest)) {
          result.blobs.present++;
          return;
        }
        if (!dryRun) {
          await client.uploadBlob(blob.digest, blob.size, (start, end) => blobStream(dir, blob, start, end));
          onProgress(`uploaded ${blob.digest} (${blob.size} bytes)`);
        }
        result.blobs.uploaded++;
        result.blobs.uploadedBytes += blob.size;
      });
    onProgress(`${client.location}: checking ${plan.blobs.size} blob(s) and ${plan.manifests.size} manifest(s)`);
    await uploadBlobs([...plan.blobs.values()]);

    // 2. Manifests by digest (children first), their bytes as blobs too, then the image tags.
    for (const manifest of plan.manifests.values()) {
      if (await client.hasManifest(manifest.digest, manifest.mediaType)) {
        result.manifests.present++;
        continue;
      }
      if (!dryRun) await client.putManifest(manifest.digest, manifest.mediaType, manifest.bytes);
      result.manifests.uploaded++;
    }
    // So that devices read every hop of an image from /blobs/ with one request (docs/formats.md).
    await uploadBlobs([...plan.manifests.values()].map((m) => ({ digest: m.digest, size: m.bytes.length, bytes: m.bytes })));
    for (const { tag, manifest } of plan.tags) {
      if ((await client.manifestDigest(tag, manifest.mediaType)) !== manifest.digest && !dryRun) {
        await client.putManifest(tag, manifest.mediaType, manifest.bytes);
        onProgress(`tagged ${tag} → ${manifest.digest}`);
      }
      result.images[tag] = manifest.digest;
    }

    // 3. Trust artifacts, last: the empty config and each document as a blob, then the artifact manifest's tag.
    if (plan.trust.length && !(await client.hasBlob(EMPTY_CONFIG.digest)) && !dryRun) {
      await client.uploadBlob(EMPTY_CONFIG.digest, EMPTY_CONFIG.size, () => streamOf(EMPTY_CONFIG_BYTES));
    }
    for (const { ref, document } of plan.trust) {
      const { bytes, layer } = artifactManifest(ref, document);
      const digest = sha256Digest(bytes);
      if ((await client.manifestDigest(ref.tag, MEDIA.manifest)) !== digest && !dryRun) {
        if (!(await client.hasBlob(layer.digest))) await client.uploadBlob(layer.digest, layer.size, () => streamOf(document));
        await client.putManifest(ref.tag, MEDIA.manifest, bytes);
        onProgress(`tagged ${ref.tag} (${ref.path})`);
      }
      result.trust[ref.tag] = digest;
    }
  } finally {
    client.close();
  }
  return result;
}

/** Reads the registry directory: every image reachable from index.json, and the trust documents. */
export async function planPush(dir: string): Promise<Plan> {
  const plan: Plan = { blobs: new Map(), manifests: new Map(), tags: [], trust: [] };
  const index = await readIndexJson(dir);

  const addBlob = async (d: Descriptor) => {
    if (plan.blobs.has(d.digest)) return;
    const size = await blobSize(dir, d.digest);
    if (size !== d.size) throw new BootosError('SIZE_MISMATCH', `${dir}: blob ${d.digest} is ${size} bytes, its descriptor says ${d.size}`);
    plan.blobs.set(d.digest, { digest: d.digest, size });
  };
  const addManifest = async (d: Descriptor): Promise<Manifest> => {
    const known = plan.manifests.get(d.digest);
    if (known) return known;
    const bytes = await readBlob(dir, d.digest);
    if (sha256Digest(bytes) !== d.digest || bytes.length !== d.size) throw new BootosError('DIGEST_MISMATCH', `${dir}: blob ${d.digest} does not match its digest or size`);
    const where = `${dir} ${d.digest}`;
    if (d.mediaType === MEDIA.index) {
      for (const child of readIndex(parseJson(bytes, where), where).manifests) await addManifest(child);
    } else if (d.mediaType === MEDIA.manifest) {
      const manifest = readManifest(parseJson(bytes, where), where);
      for (const blob of [manifest.config, ...manifest.layers]) await addBlob(blob);
    } else {
      throw new BootosError('MEDIA_TYPE', `${where}: media type ${d.mediaType} is neither an OCI index nor an OCI manifest`);
    }
    const manifest = { digest: d.digest, mediaType: d.mediaType, bytes };
    plan.manifests.set(d.digest, manifest);
    return manifest;
  };

  for (const entry of index.manifests) {
    const tag = entry.annotations?.[ANNOTATION.refName];
    if (!tag) continue;
    if (!TAG.test(tag)) throw new BootosError('REGISTRY_INVALID', `${dir}/index.json: ref name ${JSON.stringify(tag)} is not a valid OCI tag`);
    plan.tags.push({ tag, manifest: await addManifest(entry) });
  }

  // Roots in version order (a device walks them so), then root.json, the devices document (when there is one), then
  // the channels.
  const roots = (await listDir(join(dir, 'roots')))
    .map((file) => ({ file, version: Number(/^(\d+)\.root\.json$/.exec(file)?.[1] ?? NaN) }))
    .filter((r) => Number.isSafeInteger(r.version))
    .sort((a, b) => a.version - b.version);
  const trustPaths = [
    ...roots.map((r) => `roots/${r.file}`),
    'root.json',
    DEVICES_PATH,
    ...(await listDir(join(dir, 'channels'))).filter((f) => f.endsWith('.json')).sort().map((f) => `channels/${f}`),
  ];
  for (const path of trustPaths) {
    const ref = trustArtifactFor(path);
    if (!ref) throw new BootosError('REGISTRY_INVALID', `${dir}/${path}: not a trust document name bootos can push (channel names: lowercase letters, digits, . _ -)`);
    let document: Buffer;
    try {
      document = await readFile(join(dir, path));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' && (path === 'root.json' || path === DEVICES_PATH)) continue;
      throw err;
    }
    // Push only what devices could accept as a document at all; signatures are theirs to check.
    if (ref.artifactType === TRUST_MEDIA.root) readRoot(parseJson(document, path), path);
    else if (ref.artifactType === TRUST_MEDIA.devices) readDevices(parseJson(document, path), path);
    else readChannel(parseJson(document, path), path);
    plan.trust.push({ ref, document });
  }
  return plan;
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

async function blobSize(dir: string, digest: string): Promise<number> {
  try {
    return (await stat(join(dir, blobPath(digest)))).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('REGISTRY_INVALID', `${dir}: blob ${digest} is missing`);
    throw err;
  }
}

async function readBlob(dir: string, digest: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, blobPath(digest)));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('REGISTRY_INVALID', `${dir}: blob ${digest} is missing`);
    throw err;
  }
}

function blobStream(dir: string, blob: Blob, start: number, end: number) {
  if (blob.bytes) return streamOf(blob.bytes.subarray(start, end));
  return createReadStream(join(dir, blobPath(blob.digest)), { start, end: end - 1, highWaterMark: 1024 * 1024 });
}

function streamOf(bytes: Buffer) {
  return Readable.from([bytes]);
}


/** Runs `work` over `items`, at most `limit` at once; the first failure stops new work and is thrown. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
