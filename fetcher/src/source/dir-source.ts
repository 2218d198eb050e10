// A registry directory on disk as a source (what `bootos publish` writes, or a copy of it on a USB stick).
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BootosError, errnoCode } from '../core/error.js';
import { withLimits, type Limits } from '../core/limits.js';
import { tooLarge, type BlobRange, type Conditional, type RegistrySource } from './source.js';

export class DirSource implements RegistrySource {
  readonly location: string;
  private readonly readChunkBytes: number;

  constructor(
    readonly dir: string,
    limits?: Partial<Limits>,
  ) {
    this.location = resolve(dir);
    this.readChunkBytes = withLimits(limits).fileReadChunkBytes;
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

  /** The validator of a file is its size and mtime, as a static web server's ETag. */
  async getIfChanged(path: string, maxBytes: number, etag: string | null): Promise<Conditional> {
    let validator: string;
    try {
      const st = await stat(join(this.dir, path));
      validator = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { changed: true, bytes: null, etag: null };
      throw err;
    }
    if (etag !== null && validator === etag) return { changed: false, etag };
    const bytes = await this.get(path, maxBytes);
    return bytes ? { changed: true, bytes, etag: validator } : { changed: true, bytes: null, etag: null };
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
    const stream = createReadStream(file, { start: offset, end: size - 1, highWaterMark: this.readChunkBytes, signal: range.signal });
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } catch (err) {
      if (range.signal?.aborted) throw new BootosError('ABORTED', 'the read was aborted', { cause: err });
      throw err;
    }
  }

  close(): void {}
}
