// The device's content-addressed store:
//   blobs/sha256/<hex>   verified blobs (indexes, manifests, configs, layers), read-only, never partial
//   roots/<hex>/         complete unpacked root filesystems, keyed by manifest digest
//   refs/<hex>.json      what each root was pulled from (image name, digests of every blob it needs), for gc
//   tmp/                 partial downloads (<hex>.<pid>-<rand>.part, kept for a Range resume), staging roots and
//                        documents being written (doc-<hex>.<pid>-<rand>)
// Verify, then commit: a blob streams to a temp file under the signed size while it is hashed; only when size and
// digest match is it fsynced and renamed into blobs/. A root is built in tmp/ and renamed into roots/ when complete.
// So a reader never sees a partial or unverified blob or root, whatever kills the process.
import { sha256Digest } from '../core/digest.js';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pidAlive, syncDir, writeFileAtomic } from '../core/fs.js';
import { BootosError, errnoCode, isBootosError, isTransient } from '../core/error.js';
import { Reader, SHA256_DIGEST, parseJson } from '../core/guard.js';
import { withLimits, type Limits } from '../core/limits.js';
import { blobPath } from '../formats/oci.js';
import { tooLarge, type BlobRange, type RegistrySource } from '../source/source.js';

export interface BlobDescriptor {
  digest: string;
  size: number;
}

/** What a root was pulled from; refs/<manifest hex>.json. */
export interface StoreRecord {
  name: string;
  /** The digest the channel pinned (the image index). */
  digest: string;
  manifestDigest: string;
  /** Every blob the root needs: index, manifest, config, layers. */
  blobs: string[];
}

export interface BlobStreamOptions {
  signal?: AbortSignal;
  /** Called with the number of new bytes each time some are read (from a partial file, the network or the store). */
  onBytes?: (bytes: number) => void;
}

export interface StagedRoot {
  /** The staging directory to unpack into (private; not visible as a root). */
  path: string;
  /** Records the root and renames it into roots/<hex>; returns the final path. */
  commit(record: StoreRecord): Promise<string>;
  /** Removes the staging directory. */
  discard(): Promise<void>;
}

export interface GcResult {
  blobs: number;
  roots: number;
  bytes: number;
}

const PARTIAL = /^([0-9a-f]{64})\.(\d+)-[0-9a-f]+\.part$/;
const STAGING = /^(?:root|trash|doc)-[0-9a-f]{64}\.(\d+)-[0-9a-f]+$/;
const HEX = /^[0-9a-f]{64}$/;
const READ_CHUNK = 1 << 20;

function hexOf(digest: string): string {
  if (!SHA256_DIGEST.test(digest)) throw new BootosError('USAGE', `not a sha256 digest: ${digest}`);
  return digest.slice('sha256:'.length);
}

function ownTag(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * One blob being read for a consumer: from the store when it is there, else from a partial download left by an
 * earlier attempt and then the source from the first missing byte. Iterate `chunks` once; the iteration ends only
 * after size and digest matched. Then `commit()` once the consumer accepted the bytes (an unpack that succeeded),
 * or `settle()` to drop them: a validly signed but refused archive is not kept.
 */
export class BlobStream {
  /** Bytes taken from a partial file of an earlier attempt (0 when the download started from scratch). */
  resumedFrom = 0;
  /** The error the bytes themselves failed with (network, size, digest), if they did. */
  failure: unknown = null;
  private readonly generator: AsyncGenerator<Buffer>;
  private finished = false;
  private finisher: ((commit: boolean) => Promise<void>) | null = null;

  constructor(generator: (self: BlobStream) => AsyncGenerator<Buffer>) {
    this.generator = generator(this);
  }

  /** @internal the store hands over the verified temp file: commit(true) renames it into place, (false) drops it. */
  verified(finisher: (commit: boolean) => Promise<void>): void {
    this.finisher = finisher;
  }

  /** The bytes; ending the iteration early (or a consumer error) does not end the download: call settle(). */
  get chunks(): AsyncIterable<Buffer> {
    const generator = this.generator;
    return {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          try {
            const result = await generator.next();
            if (result.done) this.finished = true;
            return result;
          } catch (err) {
            this.failure ??= err;
            this.finished = true;
            throw err;
          }
        },
        return: async () => ({ done: true as const, value: undefined }),
      }),
    };
  }

  /** Commits the verified blob into the store (a no-op when it came from the store). */
  async commit(): Promise<void> {
    if (!this.finished) throw new Error('BlobStream.commit() before the stream was read to its end');
    const finisher = this.finisher;
    this.finisher = null;
    await finisher?.(true);
  }

  /**
   * After the consumer stopped or refused the bytes: 'abort' drops the download (and its partial file); 'verify'
   * reads the rest and checks the digest without committing, so a broken archive is reported as DIGEST_MISMATCH
   * when the bytes were wrong, and as the consumer's error when they were the signed ones.
   */
  async settle(mode: 'abort' | 'verify'): Promise<void> {
    try {
      if (!this.finished && mode === 'abort') await this.generator.return(undefined);
      if (!this.finished && mode === 'verify') {
        try {
          for (;;) if ((await this.generator.next()).done) break;
        } catch (err) {
          this.failure ??= err;
        }
        this.finished = true;
      }
      if (mode === 'verify' && this.failure) throw this.failure;
    } finally {
      const finisher = this.finisher;
      this.finisher = null;
      await finisher?.(false);
    }
  }
}

export class Store {
  readonly dir: string;
  readonly limits: Limits;
  /** Digest → the download in progress (settles when it ends, either way): one download per blob at a time. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Temp entries this process is using now (gc leaves them). */
  private readonly activeTmp = new Set<string>();
  private ready: Promise<void> | null = null;

  constructor(dir: string, limits?: Partial<Limits>) {
    this.dir = resolve(dir);
    this.limits = withLimits(limits);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      for (const sub of ['blobs/sha256', 'roots', 'refs', 'tmp']) await mkdir(join(this.dir, sub), { recursive: true, mode: 0o755 });
    })();
    return this.ready;
  }

  /** Path of the blob file (whether or not it is present). */
  blobFile(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', hexOf(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      return (await stat(this.blobFile(digest))).isFile();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** A committed blob's bytes (at most maxBytes), or null when absent. */
  async readBlob(digest: string, maxBytes: number): Promise<Buffer | null> {
    let bytes: Buffer;
    try {
      const fh = await open(this.blobFile(digest), 'r');
      try {
        const { size } = await fh.stat();
        if (size > maxBytes) throw tooLarge(blobPath(digest), maxBytes);
        bytes = await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
    // Small blobs are cheap to re-check, and a disk can rot.
    if (sha256Digest(bytes) !== digest) {
      await rm(this.blobFile(digest), { force: true });
      return null;
    }
    return bytes;
  }

  /**
   * A source that answers blob reads from the store and commits the blobs it fetches (when their bytes match the
   * digest in their path). Trust still checks size and digest of whatever it returns.
   */
  cached(source: RegistrySource): RegistrySource {
    return {
      get location() {
        return source.location;
      },
      get: async (path: string, maxBytes: number) => {
        const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
        if (!m) return source.get(path, maxBytes);
        const digest = `sha256:${m[1]}`;
        await this.init();
        const held = await this.readBlob(digest, maxBytes);
        if (held) return held;
        const bytes = await source.get(path, maxBytes);
        if (bytes && sha256Digest(bytes) === digest) {
          // The temp file goes to tmp/ (named for gc), never into blobs/: a kill mid-write leaves no stray file there.
          await writeFileAtomic(this.blobFile(digest), bytes, 0o444, join(this.dir, 'tmp', `doc-${m[1]}.${ownTag()}`));
        }
        return bytes;
      },
      blob: (path: string, range: BlobRange) => source.blob(path, range),
      getIfChanged: (path: string, maxBytes: number, etag: string | null) => source.getIfChanged(path, maxBytes, etag),
      close: () => source.close(),
    };
  }

  /** Streams a blob for a consumer and commits it to the store once its digest matched (see BlobStream). */
  blobStream(source: RegistrySource, descriptor: BlobDescriptor, options: BlobStreamOptions = {}): BlobStream {
    hexOf(descriptor.digest);
    return new BlobStream((self) => this.streamBlob(source, descriptor, options, self));
  }

  /** Downloads a blob into the store (no consumer); returns its path. */
  async fetchBlob(source: RegistrySource, descriptor: BlobDescriptor, options: BlobStreamOptions = {}): Promise<string> {
    const stream = this.blobStream(source, descriptor, options);
    try {
      for await (const _ of stream.chunks);
    } catch (err) {
      await stream.settle('abort');
      throw err;
    }
    await stream.commit();
    return this.blobFile(descriptor.digest);
  }

  /** Commits bytes from anywhere (an import, a copy) under the same verify-then-commit rule; returns its path. */
  async writeBlob(descriptor: BlobDescriptor, chunks: AsyncIterable<Buffer>): Promise<string> {
    const source: RegistrySource = {
      location: 'bytes',
      get: async () => null,
      getIfChanged: async () => ({ changed: true, bytes: null, etag: null }),
      close: () => {},
      async *blob(_path, range) {
        let skip = range.offset ?? 0;
        let total = 0;
        for await (const chunk of chunks) {
          total += chunk.length;
          if (total > range.size) throw new BootosError('SIZE_MISMATCH', `more than the signed ${range.size} bytes`);
          if (skip >= chunk.length) {
            skip -= chunk.length;
            continue;
          }
          yield skip ? chunk.subarray(skip) : chunk;
          skip = 0;
        }
      },
    };
    return this.fetchBlob(source, descriptor);
  }

  private async *streamBlob(source: RegistrySource, d: BlobDescriptor, options: BlobStreamOptions, self: BlobStream): AsyncGenerator<Buffer> {
    await this.init();
    const hex = hexOf(d.digest);
    const final = this.blobFile(d.digest);
    // Another pull in this process is fetching the same blob: wait for it, then read the committed copy.
    // (No await between the check and the set below: two callers can never both become the downloader.)
    while (this.inflight.has(d.digest)) await this.inflight.get(d.digest);
    let release!: () => void;
    this.inflight.set(d.digest, new Promise<void>((resolve) => (release = resolve)));
    let held: boolean;
    try {
      held = await this.hasBlob(d.digest);
    } catch (err) {
      this.inflight.delete(d.digest);
      release();
      throw err;
    }
    if (held) {
      // A committed copy: reading it needs no exclusivity.
      this.inflight.delete(d.digest);
      release();
      yield* this.readCommitted(d, options);
      return;
    }
    let tmp = '';
    let fh: FileHandle | null = null;
    let keepPartial = false;
    let verified = false;
    let pendingWrite: Promise<unknown> = Promise.resolve();
    let writePosition = 0;
    try {
      const claimed = await this.claimPartial(hex, d.size);
      tmp = claimed ?? join(this.dir, 'tmp', `${hex}.${ownTag()}.part`);
      this.activeTmp.add(tmp);
      fh = await open(tmp, claimed ? 'r+' : 'wx', 0o644);
      const hash = createHash('sha256');
      let received = 0;
      if (claimed) {
        // Replay the bytes an earlier attempt already has: the consumer needs them, and the hash covers the whole blob.
        const { size } = await fh.stat();
        for (let position = 0; position < size; ) {
          const { buffer, bytesRead } = await fh.read({ buffer: Buffer.allocUnsafe(Math.min(READ_CHUNK, size - position)), position });
          if (bytesRead === 0) break;
          const chunk = buffer.subarray(0, bytesRead);
          position += bytesRead;
          received += bytesRead;
          hash.update(chunk);
          options.onBytes?.(bytesRead);
          yield chunk;
        }
        self.resumedFrom = received;
      }
      writePosition = received;
      for await (const chunk of source.blob(blobPath(d.digest), { size: d.size, offset: received, signal: options.signal })) {
        received += chunk.length;
        // Endless data: the source already caps at the signed size; this is the store's own guard.
        if (received > d.size) throw new BootosError('SIZE_MISMATCH', `${d.digest}: more than the signed ${d.size} bytes`);
        hash.update(chunk);
        await pendingWrite;
        const at = writePosition;
        writePosition += chunk.length;
        pendingWrite = fh.write(chunk, 0, chunk.length, at);
        options.onBytes?.(chunk.length);
        yield chunk;
      }
      await pendingWrite;
      if (received !== d.size) throw new BootosError('SIZE_MISMATCH', `${d.digest}: got ${received} bytes, signed size is ${d.size}`);
      const actual = `sha256:${hash.digest('hex')}`;
      // Mix-and-match and corruption: bytes whose digest differs from the signed one are never committed.
      if (actual !== d.digest) throw new BootosError('DIGEST_MISMATCH', `blob ${d.digest}: the bytes received hash to ${actual}`);
      await fh.sync();
      await fh.close();
      fh = null;
      // Verified: the temp file waits for the consumer's verdict (BlobStream.commit or settle).
      verified = true;
      const file = tmp;
      self.verified(async (commit) => {
        try {
          if (!commit) {
            await rm(file, { force: true });
            return;
          }
          await chmod(file, 0o444);
          await rename(file, final);
          await syncDir(join(this.dir, 'blobs', 'sha256'));
        } finally {
          this.activeTmp.delete(file);
          this.inflight.delete(d.digest);
          release();
        }
      });
    } catch (err) {
      // A transient failure, an abort or a mirror without the blob keeps the partial file for a Range resume: the
      // bytes written so far are still good. Anything else (wrong bytes, a consumer that refused the archive) drops it.
      keepPartial = writePosition > 0 && isBootosError(err) && (isTransient(err.code) || err.code === 'ABORTED' || err.code === 'NOT_FOUND');
      throw err;
    } finally {
      await pendingWrite.catch(() => {});
      await fh?.close().catch(() => {});
      if (!verified) {
        if (tmp && !keepPartial) await rm(tmp, { force: true });
        this.activeTmp.delete(tmp);
        this.inflight.delete(d.digest);
        release();
      }
    }
  }

  /** Reads a committed blob, hashing it again on the way (a disk can rot); a bad copy is removed. */
  private async *readCommitted(d: BlobDescriptor, options: BlobStreamOptions): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(this.blobFile(d.digest), { highWaterMark: READ_CHUNK, signal: options.signal })) {
      size += (chunk as Buffer).length;
      if (size > d.size) break;
      hash.update(chunk as Buffer);
      options.onBytes?.((chunk as Buffer).length);
      yield chunk as Buffer;
    }
    if (size !== d.size || `sha256:${hash.digest('hex')}` !== d.digest) {
      await rm(this.blobFile(d.digest), { force: true });
      throw new BootosError('STORE_INVALID', `the stored copy of ${d.digest} is damaged and was removed; pull again`);
    }
  }

  /** Takes over a partial download of `hex` left by this process or a dead one; null when there is none. */
  private async claimPartial(hex: string, size: number): Promise<string | null> {
    const tmpDir = join(this.dir, 'tmp');
    for (const name of await readdir(tmpDir)) {
      const m = PARTIAL.exec(name);
      if (!m || m[1] !== hex) continue;
      const old = join(tmpDir, name);
      if (this.activeTmp.has(old) || (Number(m[2]) !== process.pid && pidAlive(Number(m[2])))) continue;
      const mine = join(tmpDir, `${hex}.${ownTag()}.part`);
      try {
        await rename(old, mine);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue; // another process claimed it first
        throw err;
      }
      if ((await stat(mine)).size > size) {
        await rm(mine, { force: true });
        continue;
      }
      return mine;
    }
    return null;
  }

  /** Path of the complete unpacked root filesystem for a manifest digest, or null when absent. */
  async rootOf(manifestDigest: string): Promise<string | null> {
    const path = join(this.dir, 'roots', hexOf(manifestDigest));
    try {
      return (await stat(path)).isDirectory() ? path : null;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
  }

  /** A private staging directory for a root; commit() renames it into roots/ in one step. */
  async stageRoot(manifestDigest: string): Promise<StagedRoot> {
    await this.init();
    const hex = hexOf(manifestDigest);
    const path = join(this.dir, 'tmp', `root-${hex}.${ownTag()}`);
    await mkdir(path, { mode: 0o755 });
    this.activeTmp.add(path);
    const discard = async () => {
      await rm(path, { recursive: true, force: true });
      this.activeTmp.delete(path);
    };
    return {
      path,
      discard,
      commit: async (record) => {
        await writeFileAtomic(join(this.dir, 'refs', `${hex}.json`), `${JSON.stringify(record, null, 2)}\n`);
        const final = join(this.dir, 'roots', hex);
        try {
          await rename(path, final);
        } catch (err) {
          // Another process finished the same root first: its root is as good as ours.
          if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'EEXIST') throw err;
          await discard();
        }
        this.activeTmp.delete(path);
        await syncDir(join(this.dir, 'roots'));
        return final;
      },
    };
  }

  /** Every root's record. */
  async records(): Promise<StoreRecord[]> {
    await this.init();
    const out: StoreRecord[] = [];
    for (const name of await readdir(join(this.dir, 'refs'))) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const file = join(this.dir, 'refs', name);
      const r = new Reader('STORE_INVALID', file);
      const o = r.object(parseJson(await readFile(file), file), '', ['name', 'digest', 'manifestDigest', 'blobs']);
      out.push({
        name: r.required(o, 'name', '', (v, p) => r.string(v, p)),
        digest: r.required(o, 'digest', '', (v, p) => r.string(v, p, SHA256_DIGEST)),
        manifestDigest: r.required(o, 'manifestDigest', '', (v, p) => r.string(v, p, SHA256_DIGEST)),
        blobs: r.required(o, 'blobs', '', (v, p) => r.stringArray(v, p).map((b, i) => r.string(b, `${p}[${i}]`, SHA256_DIGEST))),
      });
    }
    return out;
  }

  /** Re-hashes every committed blob; a bad one is listed (and removed with `remove`). */
  async verify(options: { remove?: boolean } = {}): Promise<{ checked: number; bad: string[] }> {
    await this.init();
    const dir = join(this.dir, 'blobs', 'sha256');
    const bad: string[] = [];
    let checked = 0;
    for (const name of await readdir(dir)) {
      checked++;
      const file = join(dir, name);
      let ok = HEX.test(name);
      if (ok) {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK })) hash.update(chunk as Buffer);
        ok = hash.digest('hex') === name;
      }
      if (!ok) {
        bad.push(HEX.test(name) ? `sha256:${name}` : name);
        if (options.remove) await rm(file, { force: true });
      }
    }
    return { checked, bad };
  }

  /**
   * Removes every root whose manifest digest is not in `keep`, every blob no kept root needs, and temp files of
   * dead processes. Blobs and temp files in use by a pull of this process are left alone.
   */
  async gc(keep: Iterable<string>): Promise<GcResult> {
    await this.init();
    const keepHex = new Set([...keep].map(hexOf));
    const keepBlobs = new Set<string>([...this.inflight.keys()].map(hexOf));
    const result: GcResult = { blobs: 0, roots: 0, bytes: 0 };
    for (const record of await this.records()) {
      if (keepHex.has(hexOf(record.manifestDigest))) for (const b of record.blobs) keepBlobs.add(hexOf(b));
    }
    for (const name of await readdir(join(this.dir, 'roots'))) {
      if (keepHex.has(name)) continue;
      // Out of sight first (one rename), then deleted: no half-removed root is ever visible.
      const trash = join(this.dir, 'tmp', `trash-${HEX.test(name) ? name : '0'.repeat(64)}.${ownTag()}`);
      await rename(join(this.dir, 'roots', name), trash);
      await rm(trash, { recursive: true, force: true });
      result.roots++;
    }
    for (const name of await readdir(join(this.dir, 'refs'))) {
      if (!keepHex.has(name.replace(/\.json$/, ''))) await unlink(join(this.dir, 'refs', name));
    }
    const blobDir = join(this.dir, 'blobs', 'sha256');
    for (const name of await readdir(blobDir)) {
      if (keepBlobs.has(name)) continue;
      const file = join(blobDir, name);
      result.bytes += (await stat(file)).size;
      await rm(file, { force: true });
      result.blobs++;
    }
    const tmpDir = join(this.dir, 'tmp');
    for (const name of await readdir(tmpDir)) {
      const path = join(tmpDir, name);
      if (this.activeTmp.has(path)) continue;
      const pid = Number((PARTIAL.exec(name)?.[2] ?? STAGING.exec(name)?.[1]) ?? NaN);
      if (Number.isNaN(pid) || pid === process.pid || !pidAlive(pid)) await rm(path, { recursive: true, force: true });
    }
    return result;
  }
}
