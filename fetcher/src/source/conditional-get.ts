// Conditional GET for polling a small document (the channel): the validator of the last copy read goes with the
// request, and an unchanged document costs one round trip and no bytes (HTTP `If-None-Match` → 304). A registry
// directory uses size + mtime as its validator. A source may implement `getIfChanged` itself (HttpSource does, through
// its transport: mirrors, TLS, retries); otherwise HTTP(S) locations are asked directly and others are read whole.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import fetch from 'node-fetch';
import { BootosError, errnoCode } from '../core/error.js';
import { tooLarge, type RegistrySource } from './source.js';

export type Conditional = { changed: false; etag: string | null } | { changed: true; bytes: Buffer; etag: string | null } | { changed: true; bytes: null; etag: null };

/** A source that answers conditional reads itself. */
export interface ConditionalSource {
  getIfChanged(path: string, maxBytes: number, etag: string | null): Promise<Conditional>;
}

function hasConditional(source: RegistrySource): source is RegistrySource & ConditionalSource {
  return typeof (source as Partial<ConditionalSource>).getIfChanged === 'function';
}

/**
 * The document at `path` if it differs from the copy whose validator is `etag` (null: no copy yet).
 * `{changed: true, bytes: null}` when it does not exist. Same caps and error codes as `RegistrySource.get`.
 */
export async function getIfChanged(source: RegistrySource, path: string, maxBytes: number, etag: string | null, timeoutMs = 30_000): Promise<Conditional> {
  if (hasConditional(source)) return source.getIfChanged(path, maxBytes, etag);
  if (/^https?:\/\//.test(source.location)) return httpGetIfChanged(new URL(path, source.location), path, maxBytes, etag, timeoutMs);
  if ('dir' in source && typeof source.dir === 'string') {
    let validator: string;
    try {
      const st = await stat(join(source.dir, path));
      validator = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { changed: true, bytes: null, etag: null };
      throw err;
    }
    if (etag !== null && validator === etag) return { changed: false, etag };
    const bytes = await source.get(path, maxBytes);
    return bytes ? { changed: true, bytes, etag: validator } : { changed: true, bytes: null, etag: null };
  }
  const bytes = await source.get(path, maxBytes);
  return bytes ? { changed: true, bytes, etag: null } : { changed: true, bytes: null, etag: null };
}

async function httpGetIfChanged(url: URL, path: string, maxBytes: number, etag: string | null, timeoutMs: number): Promise<Conditional> {
  let response;
  try {
    response = await fetch(url, { headers: etag ? { 'if-none-match': etag } : {}, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const timeout = (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError';
    throw new BootosError(timeout ? 'TIMEOUT' : 'NETWORK', `${url}: ${(err as Error).message}`, { cause: err });
  }
  if (response.status === 304) {
    response.body?.resume();
    return { changed: false, etag };
  }
  if (response.status === 404) {
    response.body?.resume();
    return { changed: true, bytes: null, etag: null };
  }
  if (!response.ok) {
    response.body?.resume();
    throw new BootosError('HTTP_ERROR', `${url}: HTTP ${response.status}`);
  }
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
  return { changed: true, bytes: Buffer.concat(chunks), etag: response.headers.get('etag') };
}
