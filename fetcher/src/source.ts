// Where trust documents and blobs come from: a registry directory on disk or a registry over HTTP(S).
// A source reads at most `maxBytes` (+1 to detect excess): a registry can never make the device buffer more.
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import fetch from 'node-fetch';
import { BootosError, errnoCode } from './error.js';
import { OciSource } from './oci-source.js';
import { isOciUrl } from './registry-url.js';

export interface RegistrySource {
  /** Human-readable location, for messages. */
  readonly location: string;
  /**
   * The bytes at `path` (relative to the registry root, e.g. "channels/stable.json"), or null when it does not exist.
   * Throws DOCUMENT_TOO_LARGE when there are more than `maxBytes` bytes.
   */
  get(path: string, maxBytes: number): Promise<Buffer | null>;
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
}

export class HttpSource implements RegistrySource {
  readonly location: string;

  constructor(
    base: string,
    readonly timeoutMs = 30_000,
  ) {
    this.location = base.endsWith('/') ? base : `${base}/`;
  }

  async get(path: string, maxBytes: number): Promise<Buffer | null> {
    const url = new URL(path, this.location);
    let response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const timeout = (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError';
      throw new BootosError(timeout ? 'TIMEOUT' : 'NETWORK', `${url}: ${(err as Error).message}`, { cause: err });
    }
    if (response.status === 404) return null;
    if (!response.ok) throw new BootosError('HTTP_ERROR', `${url}: HTTP ${response.status}`);
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      response.body?.resume();
      throw tooLarge(path, maxBytes);
    }
    const chunks: Buffer[] = [];
    let length = 0;
    try {
      for await (const chunk of response.body!) {
        length += (chunk as Buffer).length;
        if (length > maxBytes) {
          (response.body as unknown as { destroy(): void }).destroy();
          throw tooLarge(path, maxBytes);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof BootosError) throw err;
      throw new BootosError('NETWORK', `${url}: ${(err as Error).message}`, { cause: err });
    }
    return Buffer.concat(chunks);
  }
}

/** "oci://…" or "oci+http://…" → OciSource (docs/formats.md), "http(s)://…" → HttpSource, anything else → a directory. */
export function openSource(location: string): RegistrySource {
  if (isOciUrl(location)) return new OciSource(location);
  return /^https?:\/\//.test(location) ? new HttpSource(location) : new DirSource(location);
}
