// TEMPORARY STAND-IN for the pull pipeline (issue 3, branch `pulls`): fetcher/src/pull.ts `pullImage()` and
// fetcher/src/store.ts `Store`, with exactly the signatures of /work/contracts.md, so that the agent is written
// against the real interface. When pull.ts lands on main, the agent imports the real modules and this file is deleted.
//
// What it does (small, not streaming): resolveImage() (index → manifest → config, each verified by digest and size),
// each layer fetched whole and verified by fetchVerifiedBlob(), gunzipped and unpacked with tar-stream into a temp
// folder through one path gate, then renamed to <store>/rootfs/<manifest hex>. Concurrent pulls of one image share
// one promise. No zstd, no resume, no gc: the real pipeline has them.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, symlink, link, chmod } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { BootosError, errnoCode } from '../../../fetcher/src/error.js';
import type { ImageConfig } from '../../../fetcher/src/image-config.js';
import type { Limits } from '../../../fetcher/src/limits.js';
import { MEDIA } from '../../../fetcher/src/oci.js';
import { resolveImage } from '../../../fetcher/src/resolve.js';
import type { RegistrySource } from '../../../fetcher/src/source.js';
import type { ChannelSigned } from '../../../fetcher/src/trust-docs.js';
import { fetchVerifiedBlob } from '../../../fetcher/src/trust.js';

export class Store {
  constructor(
    readonly dir: string,
    readonly limits: Partial<Limits> = {},
  ) {}

  rootPath(manifestDigest: string): string {
    return join(this.dir, 'rootfs', manifestDigest.replace(/^sha256:/, ''));
  }

  /** Path of the complete unpacked root filesystem for a manifest digest, or null when absent. */
  async rootOf(manifestDigest: string): Promise<string | null> {
    const path = this.rootPath(manifestDigest);
    try {
      return (await stat(path)).isDirectory() ? path : null;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
  }
}

export interface PullProgress {
  image: string;
  doneBytes: number;
  totalBytes: number;
}

export interface PulledImage {
  name: string;
  digest: string;
  manifestDigest: string;
  config: ImageConfig;
  rootfs: string;
}

export interface PullOptions {
  source: RegistrySource;
  store: Store;
  channel: ChannelSigned;
  image: string;
  arch?: string;
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
}

const inFlight = new Map<string, Promise<PulledImage>>();

export function pullImage(options: PullOptions): Promise<PulledImage> {
  const key = `${options.store.dir}\0${options.channel.images[options.image]?.digest ?? options.image}`;
  let pull = inFlight.get(key);
  if (!pull) {
    pull = doPull(options).finally(() => inFlight.delete(key));
    inFlight.set(key, pull);
  }
  return pull;
}

async function doPull({ source, store, channel, image, arch, onProgress, signal }: PullOptions): Promise<PulledImage> {
  const resolved = await resolveImage(source, channel, image, arch, store.limits);
  const manifestDigest = resolved.manifestDescriptor.digest;
  const done = { name: image, digest: resolved.digest, manifestDigest, config: resolved.config };
  const existing = await store.rootOf(manifestDigest);
  if (existing) return { ...done, rootfs: existing };
  const totalBytes = resolved.manifest.layers.reduce((sum, l) => sum + l.size, 0);
  let doneBytes = 0;
  onProgress?.({ image, doneBytes, totalBytes });
  const final = store.rootPath(manifestDigest);
  const tmp = `${final}.tmp-${process.pid}-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 8)}`;
  await mkdir(tmp, { recursive: true, mode: 0o755 });
  try {
    for (const layer of resolved.manifest.layers) {
      signal?.throwIfAborted();
      if (layer.mediaType !== MEDIA.layerGzip) throw new BootosError('MEDIA_TYPE', `${image}: the stand-in pull reads gzip layers only`);
      const bytes = await fetchVerifiedBlob(source, layer, `${image} layer`);
      await unpack(bytes, tmp);
      doneBytes += layer.size;
      onProgress?.({ image, doneBytes, totalBytes });
    }
    await chmod(tmp, 0o755);
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (errnoCode(err) === 'ENOTEMPTY' || errnoCode(err) === 'EEXIST') return { ...done, rootfs: final };
    throw err;
  }
  return { ...done, rootfs: final };
}

/** The one path gate: no absolute paths, no `..`, no links leaving the root, no device nodes. */
function gate(root: string, name: string): string {
  const clean = normalize(name.replace(/^\.\//, ''));
  if (clean.startsWith('/') || clean === '..' || clean.startsWith(`..${sep}`) || clean.includes('\0')) {
    throw new BootosError('PATH_REFUSED', `layer entry ${JSON.stringify(name)} leaves the image root`);
  }
  const abs = join(root, clean);
  if (abs !== root && !abs.startsWith(root + sep)) throw new BootosError('PATH_REFUSED', `layer entry ${JSON.stringify(name)} leaves the image root`);
  return abs;
}

async function unpack(gz: Buffer, root: string): Promise<void> {
  const ex = extract();
  const work = (async () => {
    for await (const entry of ex) {
      const h = entry.header;
      const abs = gate(root, h.name);
      const mode = (h.mode ?? 0o644) & 0o777; // no setuid/setgid/sticky bits from a layer
      if (h.type === 'directory') {
        await mkdir(abs, { recursive: true, mode });
        entry.resume();
      } else if (h.type === 'file') {
        await mkdir(join(abs, '..'), { recursive: true });
        await pipeline(entry, createWriteStream(abs, { mode }));
      } else if (h.type === 'symlink') {
        const target = h.linkname ?? '';
        if (target.startsWith('/') ? false : normalize(join(h.name, '..', target)).startsWith('..')) {
          throw new BootosError('PATH_REFUSED', `layer symlink ${h.name} → ${target} leaves the image root`);
        }
        await mkdir(join(abs, '..'), { recursive: true });
        await symlink(target, abs);
        entry.resume();
      } else if (h.type === 'link') {
        await link(gate(root, h.linkname ?? ''), abs);
        entry.resume();
      } else {
        throw new BootosError('PATH_REFUSED', `layer entry ${h.name}: ${h.type} entries are refused`);
      }
    }
  })();
  await Promise.all([pipeline(Readable.from([gz]), createGunzip(), ex), work]);
}
