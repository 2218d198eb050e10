// pullImage: from a verified channel to an unpacked root in the store.
//   channel pins the image (else IMAGE_NOT_IN_CHANNEL) → index, manifest, config verified by digest (resolve.ts,
//   cached in the store) → the content keys of encrypted layers opened with the device's sealing key (else
//   IMAGE_NOT_RECIPIENT, before anything is fetched) → each layer streamed: source → sha256 + temp file → decrypt and
//   authenticate (encrypted layers) → decompress → untar → path gate → staging root → blob committed once its digest
//   matched → root renamed into place once every layer did. The store keeps encrypted layers as ciphertext.
// Concurrent calls for the same image share one pull; concurrent pulls of a blob share one download.
import { BootosError, isBootosError, systemError } from '../core/error.js';
import type { ImageConfig } from '../formats/image-config.js';
import { ProgressMeter, type PullProgress } from './progress.js';
import { channelImage, resolveImage } from '../trust/resolve.js';
import { type RegistrySource } from '../source/source.js';
import type { BlobStream, Store } from './store.js';
import type { ChannelSigned } from '../formats/trust-docs.js';
import { compressionOf, Unpacker } from './unpack.js';
import { openLayerKeys } from './layer-keys.js';
import type { KeyObject } from 'node:crypto';

export type { PullProgress };

export interface PulledImage {
  name: string;
  /** The digest the channel pins (the image index). */
  digest: string;
  manifestDigest: string;
  config: ImageConfig;
  /** The unpacked root filesystem (Store.rootOf(manifestDigest)). */
  rootfs: string;
  /** Device nodes and FIFOs of the layers that this unpack skipped (none when the root was already there). */
  skipped: string[];
}

export interface PullOptions {
  source: RegistrySource;
  store: Store;
  /** Already verified by Trust.fetchChannel. */
  channel: ChannelSigned;
  /** An image name the channel pins (else IMAGE_NOT_IN_CHANNEL). */
  image: string;
  /** x86_64 | aarch64 (default: this machine). */
  arch?: string;
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
  /** The device's X25519 sealing private key: opens the content keys of encrypted layers sealed to it. */
  sealKey?: KeyObject;
}

interface SharedPull {
  promise: Promise<PulledImage>;
  listeners: Set<(p: PullProgress) => void>;
}

const pulls = new WeakMap<Store, Map<string, SharedPull>>();

export async function pullImage(options: PullOptions): Promise<PulledImage> {
  const pinned = channelImage(options.channel, options.image);
  const key = `${options.image}@${pinned.digest}/${options.arch ?? process.arch}`;
  let byStore = pulls.get(options.store);
  if (!byStore) pulls.set(options.store, (byStore = new Map()));
  const running = byStore.get(key);
  if (running) {
    if (options.onProgress) running.listeners.add(options.onProgress);
    return running.promise;
  }
  const listeners = new Set<(p: PullProgress) => void>(options.onProgress ? [options.onProgress] : []);
  const emit = (p: PullProgress) => {
    for (const listener of listeners) listener(p);
  };
  const promise = pullWithRetry(options, emit).finally(() => byStore.delete(key));
  byStore.set(key, { promise, listeners });
  return promise;
}

async function pullWithRetry(options: PullOptions, emit: (p: PullProgress) => void): Promise<PulledImage> {
  const state = { resumed: false };
  try {
    return await pullOnce(options, emit, state);
  } catch (err) {
    // A partial download left by an earlier attempt may have been damaged (a crash mid-write): the digest check
    // caught it and the partial is gone, so one fresh attempt fetches the whole blob.
    if (state.resumed && isBootosError(err, 'DIGEST_MISMATCH')) return pullOnce(options, emit, { resumed: false });
    throw err;
  }
}

async function pullOnce(options: PullOptions, emit: (p: PullProgress) => void, state: { resumed: boolean }): Promise<PulledImage> {
  const { source, store, channel, image, signal } = options;
  const resolved = await resolveImage(store.cached(source), channel, image, options.arch, store.limits);
  const { manifest, config } = resolved;
  const manifestDigest = resolved.manifestDescriptor.digest;
  const totalBytes = manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
  const meter = new ProgressMeter(image, totalBytes, emit);
  const pulled = (rootfs: string, skipped: string[] = []): PulledImage => ({ name: image, digest: resolved.digest, manifestDigest, config, rootfs, skipped });

  const existing = await store.rootOf(manifestDigest);
  if (existing) {
    meter.complete();
    return pulled(existing);
  }
  const compressions = manifest.layers.map((layer) => compressionOf(layer.mediaType));
  const contentKeys = openLayerKeys(image, manifest.layers, options.sealKey);
  const staged = await store.stageRoot(manifestDigest);
  try {
    const unpacker = new Unpacker(staged.path, { limits: store.limits, allowSetuid: config.allowSetuid, signal });
    for (const [i, layer] of manifest.layers.entries()) {
      if (signal?.aborted) throw new BootosError('ABORTED', `pull of ${image} aborted`);
      const stream: BlobStream = store.blobStream(source, layer, { signal, onBytes: (n) => meter.add(n) });
      try {
        await unpacker.layer(stream.chunks, compressions[i]!, layer.size, contentKeys[i]);
      } catch (err) {
        state.resumed ||= stream.resumedFrom > 0;
        // Bytes that do not decrypt, decompress or untar are most often the wrong bytes: finish reading them so that
        // the digest check can say so (DIGEST_MISMATCH); nothing is committed either way.
        if (isBootosError(err, 'UNPACK_ARCHIVE_INVALID') || isBootosError(err, 'IMAGE_DECRYPT_FAILED')) await stream.settle('verify');
        else await stream.settle('abort');
        // When the bytes failed (network, size, digest), that is the cause; the unpack error is its consequence.
        throw stream.failure ?? err;
      }
      state.resumed ||= stream.resumedFrom > 0;
      // The digest matched and the gate accepted every entry: only now does the blob enter the store.
      await stream.commit();
    }
    unpacker.finish();
    const rootfs = await staged.commit({
      name: image,
      digest: resolved.digest,
      manifestDigest,
      blobs: [resolved.digest, manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)],
    });
    meter.complete();
    return pulled(rootfs, unpacker.gate.skipped);
  } catch (err) {
    await staged.discard();
    throw systemError(err, `pull of ${image}`);
  }
}
