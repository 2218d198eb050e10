// The registry transport: how bytes at a registry-relative path ("channels/stable.json", "blobs/sha256/<hex>") are
// fetched over HTTP(S). It owns everything about the network that trust does not care about: keep-alive agents,
// a private CA and client certificates (mTLS), connect and body-idle timeouts, retries with exponential back-off,
// fail-over between mirrors, and HTTP Range resume of an interrupted blob. Sources (http-source.ts, oci-source.ts) map
// paths to URLs and add headers, and the OCI client (push, authentication) sends its requests through send(): this
// is the only place that calls fetch(), and http-body.ts the only place that reads a response body.
import http from 'node:http';
import https from 'node:https';
import fetch, { type BodyInit, type Response } from 'node-fetch';
import { BootosError, isBootosError, isTransient } from '../core/error.js';
import { withLimits, type Limits } from '../core/limits.js';
import { aborted, bodyChunks, destroyBody, failure, readCapped, type BodyOptions, type SentResponse } from './http-body.js';
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
  /** Extra headers for a request (e.g. Authorization), asked before every attempt. */
  headers?: (url: URL) => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Called on HTTP 401 with the WWW-Authenticate header: return true after refreshing credentials to retry once
   * (the OCI source fetches a bearer token here). Without it, 401 is an HTTP_ERROR.
   */
  onUnauthorized?: (url: URL, challenge: string | null) => Promise<boolean>;
  /** Retries, mirror switches and resumes, for logs and tests. */
  onEvent?: (event: TransportEvent) => void;
  /** How messages name the registry, as the user wrote it (an OCI source: oci://HOST/NAMESPACE); default the first mirror. */
  name?: string;
}

/** Statuses worth asking again at once; 206 is a Range answer for other bytes than were asked for. */
const RETRYABLE_STATUS = new Set([206, 408, 425, 429, 500, 502, 503, 504]);

/**
 * Is trying again (here or on another mirror) worth it? Transient codes are, but HTTP_ERROR only for a status this
 * transport received that may pass in seconds: a 400 or 403 is tried again by the agent at its next check, not in this
 * loop, and an HTTP_ERROR from elsewhere (the OCI token service, reached through onUnauthorized) is not retried here.
 */
function retryable(err: unknown): boolean {
  if (!isBootosError(err) || !isTransient(err.code)) return false;
  return err.code !== 'HTTP_ERROR' || (err instanceof HttpStatusError && RETRYABLE_STATUS.has(err.status));
}

/** HTTP_ERROR with the status the server answered. */
class HttpStatusError extends BootosError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('HTTP_ERROR', message);
  }
}

/**
 * A failure that reaches the caller names the registry the user gave, with the document only as a detail
 * (`registry http://10.0.2.2:8080/: connect ECONNREFUSED 10.0.2.2:8080 (roots/2.root.json)`): a user who asked for a
 * registry should not have to work out that an internal path such as roots/2.root.json is it. Only the transient
 * codes the network raises are renamed; the others (NOT_FOUND, SIZE_MISMATCH, …) name what was wrong with a document.
 */
function named(err: unknown, registry: string, path: string): unknown {
  if (!isBootosError(err) || !isTransient(err.code) || err.message.startsWith('registry ')) return err;
  // The reason without the URL or path that the lower layers put first (the body reader names the path).
  const stripped = err.message.replace(/^(?:[A-Z]+ )?https?:\/\/\S*?: /, '');
  const reason = stripped.startsWith(`${path}: `) ? stripped.slice(path.length + 2) : stripped;
  return new BootosError(err.code, `registry ${registry}: ${reason} (${path})`, { cause: err });
}

function httpError(url: URL, status: number): BootosError {
  return new HttpStatusError(status, `${url}: HTTP ${status}`);
}

/** One exchange of Transport.send. */
export interface SendInit {
  /** Default GET. */
  method?: string;
  headers?: Record<string, string>;
  body?: BodyInit;
  /** Aborts the request and its body: ABORTED, or TIMEOUT for an AbortSignal.timeout. */
  signal?: AbortSignal;
  /** Time for the response headers (default connectTimeoutMs); an upload's answer comes after its whole body. */
  headersTimeoutMs?: number;
}

export class Transport {
  readonly mirrors: URL[];
  readonly limits: Limits;
  private preferred = 0;
  private readonly closing = new AbortController();
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

  /** The registry as messages name it: the name given, or the first mirror (and how many more there are). */
  get registryName(): string {
    const more = this.mirrors.length - 1;
    return `${this.options.name ?? this.mirrors[0]!.href}${more ? ` (or its ${more} mirror${more > 1 ? 's' : ''})` : ''}`;
  }

  /** The base URL in use now (the last one that answered). */
  get location(): string {
    return this.mirrors[this.preferred]!.href;
  }

  urlFor(path: string, base: URL): URL {
    return new URL(path, base);
  }

  /** Aborts every request under way (ABORTED, never retried) and closes the connections; later requests fail at once. */
  close(): void {
    this.closing.abort();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /**
   * The bytes at `path`, or null when every mirror answers 404. At most `maxBytes` are read (+1 to detect excess);
   * more throws DOCUMENT_TOO_LARGE. Transient failures are retried.
   */
  async getBytes(path: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer | null> {
    const linked = this.linked(signal);
    return this.withRetries(path, linked, (url) =>
      this.withDeadline(linked, async (attempt) => {
        const response = await this.request(url, {}, attempt);
        if (response === null) return null;
        return readCapped(response, maxBytes, path, this.bodyOptions);
      }),
    ).catch((err: unknown) => {
      throw named(err, this.registryName, path);
    });
  }

  /** The caller's signal joined with close(): nothing of this transport outlives it. */
  private linked(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
  }

  /** Runs one attempt at a document under documentTimeoutMs, request to last byte (a TIMEOUT when it passes). */
  private async withDeadline<T>(signal: AbortSignal, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ms = this.limits.documentTimeoutMs;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException(`not complete within ${ms} ms (documentTimeoutMs)`, 'TimeoutError')), ms);
    try {
      return await attempt(AbortSignal.any([signal, deadline.signal]));
    } finally {
      clearTimeout(timer);
    }
  }

  /** How response bodies are read (http-body.ts), from the limits. */
  get bodyOptions(): BodyOptions {
    return { idleTimeoutMs: this.limits.bodyIdleTimeoutMs, queueBytes: this.limits.bodyQueueBytes };
  }

  /**
   * A conditional GET for polling (the channel): with `etag`, `If-None-Match` goes along and a 304 is
   * `{changed: false}` (no body). Otherwise as getBytes (404 → bytes null), plus the response's ETag. Added for hot
   * updates; HttpSource.getIfChanged is this.
   */
  async getIfChanged(path: string, maxBytes: number, etag: string | null, signal?: AbortSignal): Promise<Conditional> {
    const linked = this.linked(signal);
    const result = await this.withRetries<Conditional>(path, linked, (url) =>
      this.withDeadline(linked, async (attempt) => {
        const response = await this.request(url, etag ? { 'if-none-match': etag } : {}, attempt);
        if (response === null) return null;
        if (response.status === 304) {
          destroyBody(response);
          return { changed: false, etag };
        }
        const bytes = await readCapped(response, maxBytes, path, this.bodyOptions);
        return { changed: true, bytes, etag: response.headers.get('etag') };
      }),
    ).catch((err: unknown) => {
      throw named(err, this.registryName, path);
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
    try {
      yield* this.blobBytes(path, range);
    } catch (err) {
      throw named(err, this.registryName, path);
    }
  }

  private async *blobBytes(path: string, range: BlobRange): AsyncGenerator<Buffer> {
    const { size } = range;
    const signal = this.linked(range.signal);
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
            throw new HttpStatusError(206, `${url}: the server answered range ${m?.[1] ?? '?'} for bytes=${position}-`);
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
        for await (let chunk of bodyChunks(response, this.bodyOptions)) {
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

  /**
   * One HTTP exchange, and the only fetch() call of bootos: any method and URL (a mirror's, a token service's, an
   * upload Location), through this transport's keep-alive agents and TLS settings. Resolves with the response whatever
   * its status; not getting one is a coded error (http-body.ts `failure`): TIMEOUT (no headers within
   * headersTimeoutMs, default connectTimeoutMs), ABORTED (the caller's signal), NETWORK. No retries here: getBytes,
   * getIfChanged and blob add them. The body is read with http-body.ts (readCapped, bodyChunks) or discarded.
   */
  async send(url: URL | string, init: SendInit = {}): Promise<Response> {
    const href = typeof url === 'string' ? url : url.href;
    const method = init.method ?? 'GET';
    const what = method === 'GET' ? href : `${method} ${href}`;
    const signal = this.linked(init.signal);
    const headersTimeoutMs = init.headersTimeoutMs ?? this.limits.connectTimeoutMs;
    if (signal?.aborted) throw failure(signal.reason, what, signal);
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, headersTimeoutMs);
    let response: Response;
    try {
      response = await fetch(href, {
        method,
        headers: { ...init.headers, 'accept-encoding': 'identity' },
        body: init.body,
        signal: controller.signal,
        agent: (u: URL) => (u.protocol === 'https:' ? this.httpsAgent : this.httpAgent),
        compress: false,
        redirect: 'follow',
        follow: this.limits.maxRedirects,
        highWaterMark: this.limits.bodyBufferBytes,
      });
    } catch (err) {
      signal?.removeEventListener('abort', onAbort);
      if (timedOut && !signal?.aborted) throw new BootosError('TIMEOUT', `${what}: no answer within ${headersTimeoutMs} ms`, { cause: err });
      throw failure(err, what, signal);
    } finally {
      clearTimeout(timer);
    }
    // From here the caller's signal reaches the body through `controller`; reading or discarding it removes the listener.
    (response as SentResponse).cleanup = () => signal?.removeEventListener('abort', onAbort);
    (response as SentResponse).callerSignal = signal;
    return response;
  }

  /** One GET of a mirror's URL. Null on 404; throws coded errors otherwise. */
  private async request(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, authorized = false): Promise<Response | null> {
    const extra = this.options.headers ? await this.options.headers(url) : {};
    const response = await this.send(url, { headers: { ...extra, ...headers }, signal });
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
}

interface Attempts {
  /** Failures in a row. */
  failures: number;
  /** Mirrors tried in the current round. */
  triedInRound: number;
  /** Completed rounds (the back-off exponent). */
  round: number;
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
