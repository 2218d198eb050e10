// Where trust documents and blobs come from: a registry directory on disk or a registry over HTTP(S) (client.ts).
// A source reads at most `maxBytes` (+1 to detect excess): a registry can never make the device buffer more.
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HttpSource, type HttpSourceOptions } from './http-source.js';
import { BootosError, errnoCode } from '../core/error.js';
import { OciSource } from './oci-source.js';
import { isOciUrl } from '../formats/registry-url.js';

export { HttpSource, type HttpSourceOptions };

/** Which bytes of a blob to stream. */
export interface BlobRange {
  /** The signed size: a source never yields more, and a blob of another size is SIZE_MISMATCH. */
  size: number;
  /** First byte wanted; the caller already holds the bytes before it (a resumed download). Default 0. */
  offset?: number;
  signal?: AbortSignal;
}

export interface RegistrySource {
  /** Human-readable location, for messages. */
  readonly location: string;
  /**
   * The bytes at `path` (relative to the registry root, e.g. "channels/stable.json"), or null when it does not exist.
   * Throws DOCUMENT_TOO_LARGE when there are more than `maxBytes` bytes.
   */
  get(path: string, maxBytes: number): Promise<Buffer | null>;
  /**
   * Streams bytes [offset, size) of the blob at `path` ("blobs/sha256/<hex>"), each byte once and in order.
   * Transient failures are retried and resumed inside the source; what reaches the caller is final.
   * Throws NOT_FOUND when the blob is absent, SIZE_MISMATCH when it is longer or shorter than `size`.
   * The source does not hash: the caller (Store) verifies the digest over the whole blob.
   */
  blob(path: string, range: BlobRange): AsyncIterable<Buffer>;
}

export function tooLarge(path: string, maxBytes: number): BootosError {
  return new BootosError('DOCUMENT_TOO_LARGE', `${path} is larger than the ${maxBytes}-byte cap`);
}

export class DirSource implements RegistrySource {
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = resolve(dir);
  }

  async get(path: string, maxBytes: number): Promise<Buffer | null> {
    let fh;
    try {
      fh = await open(join(this.dir, path), 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
    try {
      const buffer = Buffer.alloc(maxBytes + 1);
      let length = 0;
      while (length < buffer.length) {
        const { bytesRead } = await fh.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length > maxBytes) throw tooLarge(path, maxBytes);
      return buffer.subarray(0, length);
    } finally {
      await fh.close();
    }
  }

  async *blob(path: string, range: BlobRange): AsyncGenerator<Buffer> {
    const file = join(this.dir, path);
    const offset = range.offset ?? 0;
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new BootosError('NOT_FOUND', `blob ${path} is missing from ${this.location}`);
      throw err;
    }
    if (size !== range.size) throw new BootosError('SIZE_MISMATCH', `${file} is ${size} bytes, signed size is ${range.size}`);
    if (offset >= size) return;
    const stream = createReadStream(file, { start: offset, end: size - 1, highWaterMark: 1 << 20, signal: range.signal });
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } catch (err) {
      if (range.signal?.aborted) throw new BootosError('ABORTED', 'the read was aborted', { cause: err });
      throw err;
    }
  }
}

/**
 * "oci://…" or "oci+http://…" → OciSource (docs/formats.md, "Registry URLs"; `options.mirrors` are more oci:// URLs of
 * the same registry), "http(s)://…" → HttpSource (with `options.mirrors` tried after it), anything else → a directory.
 */
export function openSource(location: string, options: HttpSourceOptions = {}): RegistrySource {
  if (isOciUrl(location)) return new OciSource(location, options);
  return /^https?:\/\//.test(location) ? new HttpSource([location, ...(options.mirrors ?? [])], options) : new DirSource(location);
}
