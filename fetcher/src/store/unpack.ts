// Streaming unpack of layers into a private staging root: bytes → decompress (node:zlib) → untar (tar-stream) →
// path gate → disk, as one stream with bounded buffers. Every entry goes through PathGate.admit() first.
// Filesystem calls are synchronous: each is short, and they avoid a thread-pool round trip per file (measured in
// bench/pull.ts); decompression runs on the thread pool meanwhile.
import {
  closeSync, constants, fchmodSync, futimesSync, linkSync, mkdirSync, openSync, rmSync, symlinkSync, unlinkSync, writevSync, chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import { BootosError } from '../core/error.js';
import type { Limits } from '../core/limits.js';
import { plainMediaType } from '../formats/layer-encryption.js';
import { MEDIA } from '../formats/oci.js';
import { LayerDecipher } from './layer-cipher.js';
import { PathGate } from './path-gate.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Node ≥ 22.15 / 23.8 has zstd in node:zlib; Node 20 does not. */
export function zstdAvailable(): boolean {
  return typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
}

/** The compression under a layer's media type; an encrypted type (`…+encrypted`) has the compression it wraps. */
export function compressionOf(mediaType: string): Compression {
  mediaType = plainMediaType(mediaType);
  if (mediaType === MEDIA.layerGzip || mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip') return 'gzip';
  if (mediaType === MEDIA.layerZstd) return 'zstd';
  if (mediaType === MEDIA.layerTar) return 'none';
  throw new BootosError('MEDIA_TYPE', `layer media type ${mediaType} is not unpacked (gzip, zstd or plain tar layers only)`);
}

/** zlib output chunk: large enough that a file write takes many bytes at once (see docs/performance.md). */
const INFLATE_CHUNK_BYTES = 256 * 1024;
/** Bytes of one file gathered before a writev. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * Decompressed bytes that zlib may hold ready: it keeps inflating on the thread pool while the main thread writes
 * files, instead of the two taking turns (measured: the default 16 KiB made a pull take twice as long).
 */
const INFLATE_AHEAD_BYTES = 4 * 1024 * 1024;

function decompressor(compression: Compression): Transform | null {
  if (compression === 'none') return null;
  const options = { chunkSize: INFLATE_CHUNK_BYTES, readableHighWaterMark: INFLATE_AHEAD_BYTES, writableHighWaterMark: INFLATE_CHUNK_BYTES };
  if (compression === 'gzip') return zlib.createGunzip(options);
  if (!zstdAvailable()) {
    throw new BootosError('MEDIA_TYPE', `this runtime's zlib has no zstd (Node ${process.versions.node}); publish gzip layers or run Node ≥ 22.15`);
  }
  const create = (zlib as unknown as { createZstdDecompress(o: object): Transform }).createZstdDecompress;
  return create(options);
}

export interface UnpackOptions {
  limits: Limits;
  /** The image config's allowSetuid: keep setuid/setgid bits (stripped otherwise). */
  allowSetuid?: boolean;
  signal?: AbortSignal;
}

/** Unpacks the layers of one image, in order, into `root` (a fresh, private directory). */
export class Unpacker {
  readonly gate: PathGate;
  private readonly dirModes = new Map<string, number>();
  private layers = 0;

  constructor(
    readonly root: string,
    private readonly options: UnpackOptions,
  ) {
    this.gate = new PathGate(options.limits, options.allowSetuid ?? false);
  }

  /**
   * Unpacks one layer from its (compressed, maybe encrypted) bytes; `compressedBytes` is its signed size (for the
   * gate's ratio check); `contentKey` decrypts an encrypted layer (layer-cipher.ts) before it is decompressed.
   * Errors are coded; the caller discards the root on any.
   */
  async layer(chunks: AsyncIterable<Buffer>, compression: Compression, compressedBytes?: number, contentKey?: Buffer | null): Promise<void> {
    if (this.layers++ > 0) this.gate.nextLayer();
    if (compressedBytes !== undefined) this.gate.addCompressedBytes(compressedBytes);
    const decipher = contentKey ? new LayerDecipher(contentKey, `layer ${this.layers}`) : null;
    const inflate = decompressor(compression);
    const extract = tarExtract();
    const input = Readable.from(chunks, { objectMode: false, highWaterMark: 256 * 1024 });
    const streams = [input, decipher, inflate, extract].filter((s) => s !== null);
    const flowing = pipeline(streams as unknown as [Readable, ...NodeJS.WritableStream[]], { signal: this.options.signal });
    let failure: unknown = null;
    flowing.catch((err) => (failure ??= err));
    try {
      for await (const entry of extract) {
        await this.entry(entry.header, entry);
      }
      await flowing;
    } catch (err) {
      failure = pickError(err, failure);
      for (const s of streams) (s as { destroy(e?: Error): void }).destroy();
      await flowing.catch(() => {});
      throw archiveError(failure);
    }
    this.gate.checkLinks();
  }

  /** After the last layer: directory modes (deferred so a read-only directory can still be filled). */
  finish(): void {
    this.gate.checkLinks();
    const dirs = [...this.dirModes].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [path, mode] of dirs) chmodSync(join(this.root, path), mode);
  }

  private async entry(header: Header, stream: AsyncIterable<unknown>): Promise<void> {
    const admitted = this.gate.admit({ name: header.name, type: header.type, mode: header.mode, size: header.size, linkname: header.linkname });
    const at = (p: string) => join(this.root, p);
    if (admitted.kind !== 'file') for await (const _ of stream); // (no data; drains tar-stream's empty entry)
    switch (admitted.kind) {
      case 'skip':
        return;
      case 'whiteout':
        rmSync(at(admitted.path), { recursive: true, force: true });
        this.forgetModes(admitted.path);
        return;
      case 'opaque':
        for (const p of admitted.remove) {
          rmSync(at(p), { recursive: true, force: true });
          this.forgetModes(p);
        }
        return;
    }
    for (const dir of admitted.mkdirs) mkdirSync(at(dir), 0o755);
    const path = at(admitted.path);
    switch (admitted.kind) {
      case 'directory':
        if (!admitted.exists) mkdirSync(path, 0o700);
        this.dirModes.set(admitted.path, admitted.mode);
        return;
      case 'symlink':
        if (admitted.replace) unlinkSync(path);
        symlinkSync(admitted.target, path);
        return;
      case 'hardlink':
        if (admitted.replace) unlinkSync(path);
        linkSync(at(admitted.target), path);
        return;
      case 'file': {
        if (admitted.replace) unlinkSync(path);
        // O_EXCL | O_NOFOLLOW: a fresh file, never an existing one and never through a link.
        const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          let batch: Buffer[] = [];
          let batched = 0;
          for await (const data of stream) {
            const chunk = data as Buffer;
            batch.push(chunk);
            batched += chunk.length;
            if (batched >= WRITE_BATCH_BYTES) {
              writeAll(fd, batch, batched);
              batch = [];
              batched = 0;
            }
          }
          if (batched) writeAll(fd, batch, batched);
          fchmodSync(fd, admitted.mode);
          const mtime = header.mtime ?? new Date(0);
          futimesSync(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
        return;
      }
    }
  }

  private forgetModes(path: string): void {
    for (const p of [...this.dirModes.keys()]) if (p === path || p.startsWith(`${path}/`)) this.dirModes.delete(p);
  }
}

function writeAll(fd: number, buffers: Buffer[], total: number): void {
  let written = writevSync(fd, buffers);
  while (written < total) {
    // Short write: drop what went out and write the rest.
    let skip = written;
    while (skip >= buffers[0]!.length) skip -= buffers.shift()!.length;
    buffers[0] = buffers[0]!.subarray(skip);
    total -= written;
    written = writevSync(fd, buffers);
  }
}

/** The more telling of two errors: a coded one beats a stream's "premature close" that it caused. */
function pickError(a: unknown, b: unknown): unknown {
  if (a instanceof BootosError) return a;
  if (b instanceof BootosError) return b;
  return b ?? a;
}

/** Errors from zlib and tar-stream mean the archive is broken; coded and filesystem errors pass through. */
function archiveError(err: unknown): unknown {
  if (err instanceof BootosError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return new BootosError('ABORTED', 'the pull was aborted', { cause: err });
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) return new BootosError('UNPACK_ARCHIVE_INVALID', `the layer does not decompress: ${e.message}`, { cause: err });
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) return err;
  return new BootosError('UNPACK_ARCHIVE_INVALID', `the layer is not a valid tar archive: ${e?.message ?? err}`, { cause: err });
}
