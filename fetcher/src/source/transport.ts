// The registry transport: how bytes at a registry-relative path ("channels/stable.json", "blobs/sha256/<hex>") are
// fetched over HTTP(S). It owns everything about the network that trust does not care about: keep-alive agents,
// a private CA and client certificates (mTLS), connect and body-idle timeouts, retries with exponential back-off,
// fail-over between mirrors, and HTTP Range resume of an interrupted blob. Sources (client.ts, the OCI source) map
// paths to URLs and add headers; they never re-implement any of this.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import fetch, { type Response } from 'node-fetch';
import { BootosError, isBootosError } from '../core/error.js';
import { withLimits, type Limits } from '../core/limits.js';
import { type BlobRange, type Conditional } from './source.js';

export interface TlsOptions {
  /** PEM bundle of the CA(s) that sign the registry's certificate (replaces the system list). */
  ca?: string | Buffer;
  /** PEM client certificate and key, for registries that require mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
}

export type TransportEvent =
  | { type: 'retry'; url: string; attempt: number; delayMs: number; error: BootosError }
  | { type: 'mirror'; from: string; to: string; error: BootosError }
  | { type: 'resume'; url: string; offset: number };

export interface TransportOptions extends TlsOptions {
  /** Base URLs tried in order; the first that answers is kept until it fails. */
  mirrors: string[];
  limits?: Partial<Limits>;
  /** Maps a registry-relative path to its URL under a mirror's base (default: `new URL(path, base)`). */
  mapPath?: (path: string, base: URL) => URL;
  /** Extra headers for a request (e.g. Authorization), asked before every attempt. */
  headers?: (url: URL) => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Called on HTTP 401 with the WWW-Authenticate header: return true after refreshing credentials to retry once
   * (the OCI source fetches a bearer token here). Without it, 401 is an HTTP_ERROR.
   */
  onUnauthorized?: (url: URL, challenge: string | null) => Promise<boolean>;
  /** Retries, mirror switches and resumes, for logs and tests. */
  onEvent?: (event: TransportEvent) => void;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function retryable(err: unknown): boolean {
  return isBootosError(err) && (err.code === 'NETWORK' || err.code === 'TIMEOUT' || (err as TransportError).retryable === true);
}

/** A coded error that also says whether trying again (here or on another mirror) may help. */
class TransportError extends BootosError {
  retryable = false;
}

function httpError(url: URL, status: number): BootosError {
  const err = new TransportError('HTTP_ERROR', `${url}: HTTP ${status}`);
  err.retryable = RETRYABLE_STATUS.has(status);
  return err;
}

function aborted(signal: AbortSignal | undefined): BootosError {
  return new BootosError('ABORTED', 'the request was aborted', { cause: signal?.reason });
}

export class Transport {
  readonly mirrors: URL[];
  readonly limits: Limits;
  private preferred = 0;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: TransportOptions) {
    if (options.mirrors.length === 0) throw new TypeError('mirrors must list at least one base URL');
    this.mirrors = options.mirrors.map((m) => {
      const url = new URL(m.endsWith('/') ? m : `${m}/`);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`mirror ${m} must be an http: or https: URL`);
      return url;
    });
    this.limits = withLimits(options.limits);
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: this.limits.maxSocketsPerHost });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: this.limits.maxSocketsPerHost, ca: options.ca, cert: options.cert, key: options.key });
  }

  /** The base URL in use now (the last one that answered). */
  get location(): string {
    return this.mirrors[this.preferred]!.href;
  }

  urlFor(path: string, base: URL): URL {
    return this.options.mapPath ? this.options.mapPath(path, base) : new URL(path, base);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /**
   * The bytes at `path`, or null when every mirror answers 404. At most `maxBytes` are read (+1 to detect excess);
   * more throws DOCUMENT_TOO_LARGE. Transient failures are retried.
   */
  async getBytes(path: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer | null> {
    return this.withRetries(path, signal, async (url) => {
      const response = await this.request(url, {}, signal);
      if (response === null) return null;
      return this.readCapped(response, url, path, maxBytes, signal);
    });
  }

  /** The whole body of a response, refused past `maxBytes` whether declared or received (endless data). */
  private async readCapped(response: Response, url: URL, path: string, maxBytes: number, signal: AbortSignal | undefined): Promise<Buffer> {
    const tooLarge = () => {
      destroyBody(response);
      return new BootosError('DOCUMENT_TOO_LARGE', `${path} is larger than the ${maxBytes}-byte cap`);
    };
    if (Number(response.headers.get('content-length') ?? NaN) > maxBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of this.bodyChunks(response, url, signal)) {
      length += chunk.length;
      if (length > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, length);
  }

  /**
   * A conditional GET for polling (the channel): with `etag`, `If-None-Match` goes along and a 304 is
   * `{changed: false}` (no body). Otherwise as getBytes (404 → bytes null), plus the response's ETag. Added for hot
   * updates; HttpSource.getIfChanged is this.
   */
  async getIfChanged(path: string, maxBytes: number, etag: string | null, signal?: AbortSignal): Promise<Conditional> {
    const result = await this.withRetries<Conditional>(path, signal, async (url) => {
      const response = await this.request(url, etag ? { 'if-none-match': etag } : {}, signal);
      if (response === null) return null;
      if (response.status === 304) {
        destroyBody(response);
        return { changed: false, etag };
      }
      const bytes = await this.readCapped(response, url, path, maxBytes, signal);
      return { changed: true, bytes, etag: response.headers.get('etag') };
    });
    return result ?? { changed: true, bytes: null, etag: null };
  }

  /**
   * Streams bytes [offset, size) of the blob at `path`, each byte exactly once and in order. A cut connection, a
   * stalled body or a 5xx is retried with `Range: bytes=N-` from the first byte not yet yielded, on this mirror or the
   * next, so only the missing bytes travel again. More bytes than `size` → SIZE_MISMATCH (endless data); the caller
   * hashes what it receives and checks the digest.
   */
  async *blob(path: string, range: BlobRange): AsyncGenerator<Buffer> {
    const { size, signal } = range;
    let position = range.offset ?? 0;
    if (!Number.isSafeInteger(size) || size < 0 || position < 0 || position > size) throw new TypeError(`bad blob range ${position}/${size}`);
    const attempts: Attempts = { failures: 0, triedInRound: 0, round: 0 };
    let resumes = 0;
    let notFound = 0;
    while (position < size) {
      if (signal?.aborted) throw aborted(signal);
      const mirror = this.mirrors[this.preferred]!;
      const url = this.urlFor(path, mirror);
      const startedAt = position;
      try {
        const headers: Record<string, string> = {};
        if (position > 0) {
          headers.range = `bytes=${position}-`;
          this.options.onEvent?.({ type: 'resume', url: url.href, offset: position });
        }
        const response = await this.request(url, headers, signal);
        if (response === null) {
          // This mirror lacks the blob; another may have it.
          notFound++;
          if (notFound >= this.mirrors.length) throw new BootosError('NOT_FOUND', `blob ${path} is missing from ${this.mirrors.map((m) => m.href).join(', ')}`);
          this.preferred = (this.preferred + 1) % this.mirrors.length;
          continue;
        }
        let skip = 0;
        if (response.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
          if (!m || Number(m[1]) !== position) {
            destroyBody(response);
            throw Object.assign(new TransportError('HTTP_ERROR', `${url}: the server answered range ${m?.[1] ?? '?'} for bytes=${position}-`), { retryable: true });
          }
          if (m[3] !== '*' && Number(m[3]) !== size) {
            destroyBody(response);
            throw new BootosError('SIZE_MISMATCH', `${url}: the server says the blob is ${m[3]} bytes, signed size is ${size}`);
          }
        } else {
          // A server that ignores Range sends everything again: drop what we already have.
          skip = position;
        }
        const declared = Number(response.headers.get('content-length') ?? NaN);
        if (declared > size - position + skip) {
          // Endless data: refuse before reading a byte more than the signature allows.
          destroyBody(response);
          throw new BootosError('SIZE_MISMATCH', `${url}: Content-Length ${declared} exceeds the signed size ${size}`);
        }
        for await (let chunk of this.bodyChunks(response, url, signal)) {
          if (skip > 0) {
            const dropped = Math.min(skip, chunk.length);
            skip -= dropped;
            chunk = chunk.subarray(dropped);
            if (chunk.length === 0) continue;
          }
          if (position + chunk.length > size) {
            destroyBody(response);
            throw new BootosError('SIZE_MISMATCH', `${url}: more than the signed ${size} bytes`);
          }
          position += chunk.length;
          yield chunk;
        }
        // A body that ended early (a lying Content-Length, a proxy that cut it) is resumed like a broken connection.
        if (position < size) throw new BootosError('NETWORK', `${url}: the body ended after ${position} of ${size} bytes`);
      } catch (err) {
        if (!retryable(err)) throw err;
        if (position > startedAt) {
          // Progress was made: the failure count restarts, but the number of resumes is bounded.
          attempts.failures = 0;
          if (++resumes > this.limits.maxBlobResumes) throw err;
        }
        await this.nextAttempt(url, err as BootosError, attempts, signal);
      }
    }
  }

  /** Runs `attempt` on the preferred mirror, failing over and backing off on transient errors. */
  private async withRetries<T>(path: string, signal: AbortSignal | undefined, attempt: (url: URL) => Promise<T | null>): Promise<T | null> {
    const attempts: Attempts = { failures: 0, triedInRound: 0, round: 0 };
    let notFound = 0;
    for (;;) {
      if (signal?.aborted) throw aborted(signal);
      const url = this.urlFor(path, this.mirrors[this.preferred]!);
      try {
        const result = await attempt(url);
        if (result !== null) return result;
        notFound++;
        if (notFound >= this.mirrors.length) return null;
        this.preferred = (this.preferred + 1) % this.mirrors.length;
      } catch (err) {
        if (!retryable(err)) throw err;
        await this.nextAttempt(url, err as BootosError, attempts, signal);
      }
    }
  }

  /**
   * After a transient failure: give up after maxRetries failures in a row; otherwise try the next mirror at once,
   * or, after a full round of mirrors, wait (exponential back-off with jitter) and start the next round.
   */
  private async nextAttempt(url: URL, error: BootosError, attempts: Attempts, signal: AbortSignal | undefined): Promise<void> {
    attempts.failures++;
    if (attempts.failures > this.limits.maxRetries) throw error;
    if (this.mirrors.length > 1) {
      const from = this.mirrors[this.preferred]!.href;
      this.preferred = (this.preferred + 1) % this.mirrors.length;
      this.options.onEvent?.({ type: 'mirror', from, to: this.mirrors[this.preferred]!.href, error });
      if (++attempts.triedInRound < this.mirrors.length) return;
      attempts.triedInRound = 0;
    }
    const base = Math.min(this.limits.retryMaxDelayMs, this.limits.retryBaseDelayMs * 2 ** Math.min(attempts.round++, 20));
    const delayMs = Math.round(base / 2 + (Math.random() * base) / 2);
    this.options.onEvent?.({ type: 'retry', url: url.href, attempt: attempts.failures, delayMs, error });
    await sleep(delayMs, signal);
  }

  /** One HTTP GET. Null on 404; throws coded errors otherwise (retryable ones are marked). */
  private async request(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, authorized = false): Promise<Response | null> {
    const extra = this.options.headers ? await this.options.headers(url) : {};
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.limits.connectTimeoutMs);
    let response: Response;
    try {
      response = await fetch(url.href, {
        headers: { ...extra, ...headers, 'accept-encoding': 'identity' },
        signal: controller.signal,
        agent: (u: URL) => (u.protocol === 'https:' ? this.httpsAgent : this.httpAgent),
        compress: false,
        redirect: 'follow',
        follow: this.limits.maxRedirects,
        highWaterMark: this.limits.bodyBufferBytes,
      });
    } catch (err) {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) throw aborted(signal);
      if (timedOut) throw new BootosError('TIMEOUT', `${url}: no answer within ${this.limits.connectTimeoutMs} ms`, { cause: err });
      throw new BootosError('NETWORK', `${url}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    // From here the caller's signal reaches the body through `controller`; bodyChunks removes the listener.
    (response as ResponseWithCleanup).cleanup = () => signal?.removeEventListener('abort', onAbort);
    (response as ResponseWithCleanup).controller = controller;
    if (response.status === 404) {
      destroyBody(response);
      return null;
    }
    if (response.status === 401 && !authorized && this.options.onUnauthorized) {
      destroyBody(response);
      if (await this.options.onUnauthorized(url, response.headers.get('www-authenticate'))) return this.request(url, headers, signal, true);
      throw httpError(url, 401);
    }
    if (response.status === 304 && headers['if-none-match']) return response; // getIfChanged
    if (response.status !== 200 && response.status !== 206) {
      destroyBody(response);
      throw httpError(url, response.status);
    }
    return response;
  }

  /**
   * The body's chunks. The body flows into a small queue (paused above bodyQueueBytes) so that every byte that
   * reached this process before a connection broke is still handed over: the resume then starts exactly where the
   * received bytes end. Waiting longer than bodyIdleTimeoutMs for the next bytes cuts the connection (TIMEOUT).
   */
  private async *bodyChunks(response: Response, url: URL, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
    const { cleanup } = response as ResponseWithCleanup;
    const body = response.body as unknown as Readable | null;
    if (!body) return;
    const queue: Buffer[] = [];
    let queued = 0;
    let ended = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const onData = (chunk: Buffer) => {
      queue.push(chunk);
      queued += chunk.length;
      if (queued >= this.limits.bodyQueueBytes) body.pause();
      notify();
    };
    const onEnd = () => {
      ended = true;
      notify();
    };
    const onError = (err: unknown) => {
      failure ??= err;
      notify();
    };
    const onClose = () => {
      if (!ended) failure ??= new Error('the connection closed before the body ended');
      notify();
    };
    body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
    try {
      for (;;) {
        while (queue.length) {
          const chunk = queue.shift()!;
          queued -= chunk.length;
          if (queued < this.limits.bodyQueueBytes && body.isPaused() && !ended) body.resume();
          yield chunk;
        }
        if (ended) return;
        if (failure) {
          if (signal?.aborted) throw aborted(signal);
          throw new BootosError('NETWORK', `${url}: ${(failure as Error).message}`, { cause: failure });
        }
        let idle = false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            idle = true;
            resolve();
          }, this.limits.bodyIdleTimeoutMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (idle && queue.length === 0 && !ended && !failure) {
          throw new BootosError('TIMEOUT', `${url}: no bytes for ${this.limits.bodyIdleTimeoutMs} ms`);
        }
      }
    } finally {
      wake = null;
      body.off('data', onData).off('end', onEnd).off('close', onClose);
      // Keep an error listener: destroying the body may still emit one.
      body.on('error', () => {});
      cleanup?.();
      if (!ended) body.destroy();
    }
  }
}

interface Attempts {
  /** Failures in a row. */
  failures: number;
  /** Mirrors tried in the current round. */
  triedInRound: number;
  /** Completed rounds (the back-off exponent). */
  round: number;
}

interface ResponseWithCleanup extends Response {
  cleanup?: () => void;
  controller?: AbortController;
}

function destroyBody(response: Response): void {
  (response as ResponseWithCleanup).cleanup?.();
  (response.body as unknown as Readable | null)?.destroy();
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
