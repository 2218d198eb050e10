// A small OCI Distribution client (https://github.com/opencontainers/distribution-spec): the requests that bootos
// needs to push a registry directory and to read one back — HEAD/GET blobs and manifests, blob uploads (monolithic
// and chunked), manifest PUT — with Basic or bearer-token authentication answered on the first 401. Every request
// goes through a Transport's send() (an OciSource's own, shared with its reads, or one of this client's for a push),
// and every body is read with http-body.ts.
import type { Readable } from 'node:stream';
import type { BodyInit, Response } from 'node-fetch';
import { BootosError } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { withLimits, type Limits } from '../core/limits.js';
import { bodyChunks, discard, readCapped } from './http-body.js';
import { RegistryAuth, credentialsFromEnv, type Credentials } from './oci-auth.js';
import { isLoopbackHost, parseRegistryUrl, type RegistryUrl } from '../formats/registry-url.js';
import { Transport } from './transport.js';

export interface OciClientOptions {
  /** ociRequestTimeoutMs, ociMinBytesPerSecond, uploadChunkBytes, maxSmallBodyBytes, pushMaxSocketsPerHost … */
  limits?: Partial<Limits>;
  /** Beats user:password@ in the URL, which beats BOOTOS_REGISTRY_USERNAME/PASSWORD. */
  credentials?: Credentials;
  /** A private CA (PEM) and a client certificate and key (mutual TLS), as for the transport. */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Ask for push rights (bearer scope "pull,push"). */
  push?: boolean;
  /**
   * The transport to send through (an OciSource passes its own, so that reads and authentication share one pool of
   * connections and the TLS settings); default: one of this client's, with pushMaxSocketsPerHost sockets.
   */
  transport?: Transport;
}

export const OCI_MEDIA_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
];

interface SendInit {
  headers?: Record<string, string>;
  /** A body factory: called again when the request must be repeated after an authentication challenge. */
  body?: () => BodyInit;
  /** Size of the body, for its time budget. */
  bodyBytes?: number;
}

export class OciClient {
  readonly url: RegistryUrl;
  readonly limits: Limits;
  private readonly auth: RegistryAuth;
  private readonly scope: string;
  private readonly transport: Transport;
  private readonly ownsTransport: boolean;

  constructor(location: string | RegistryUrl, options: OciClientOptions = {}) {
    this.url = typeof location === 'string' ? parseRegistryUrl(location) : location;
    const { credentials: explicit, push, ca, cert, key } = options;
    this.limits = withLimits(options.limits);
    const credentials = explicit ?? this.url.credentials ?? credentialsFromEnv();
    if (credentials && this.url.origin.startsWith('http:') && !isLoopbackHost(this.url.origin)) {
      throw new BootosError('USAGE', `${this.url.display}: refusing to send a password over plain HTTP to a host other than loopback; use oci://`);
    }
    this.scope = `repository:${this.url.repository}:${push ? 'pull,push' : 'pull'}`;
    this.ownsTransport = !options.transport;
    this.transport =
      options.transport ??
      new Transport({ mirrors: [this.endpoint('')], ca, cert, key, limits: { ...this.limits, maxSocketsPerHost: this.limits.pushMaxSocketsPerHost } });
    this.auth = new RegistryAuth(credentials, (url, authorization) => this.fetchToken(url, authorization), { renewBeforeExpiryMs: this.limits.tokenRenewBeforeExpiryMs });
  }

  get location(): string {
    return this.url.display;
  }

  /** "blobs/sha256:…" → "https://host/v2/<repository>/blobs/sha256:…". */
  endpoint(rel: string): string {
    return `${this.url.origin}/v2/${this.url.repository}/${rel}`;
  }

  /** Closes this client's own transport (a shared one is its source's to close). */
  close(): void {
    if (this.ownsTransport) this.transport.close();
  }

  private budgetMs(bytes = 0): number {
    return this.limits.ociRequestTimeoutMs + Math.ceil((bytes / this.limits.ociMinBytesPerSecond) * 1000);
  }

  /** One request through the transport, within its time budget (headers and body: the deadline aborts both). */
  private raw(method: string, url: string, init: SendInit, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (authorization) headers.authorization = authorization;
    const budgetMs = this.budgetMs(init.bodyBytes ?? 0);
    return this.transport.send(url, { method, headers, body: init.body?.(), signal: AbortSignal.timeout(budgetMs), headersTimeoutMs: budgetMs });
  }

  /**
   * One request to the registry (a path under /v2/<repository>/ or an absolute URL such as an upload Location).
   * A 401 is answered once (Basic or bearer token) and the request repeated; a second 401 or a 403 is AUTH_REFUSED.
   * Returns every other response as is: the caller decides what its statuses mean.
   */
  async send(method: string, rel: string, init: SendInit = {}): Promise<Response> {
    const url = /^https?:\/\//.test(rel) ? rel : this.endpoint(rel);
    const sent = this.auth.authorization(this.scope);
    let response = await this.raw(method, url, init, sent);
    if (response.status === 401) {
      await discard(response);
      // A parallel request may have answered the challenge while this one was on its way: use its answer.
      const current = this.auth.authorization(this.scope);
      if (!current || current === sent) await this.auth.answer(response.headers.get('www-authenticate'), this.scope, `${method} ${url}`);
      response = await this.raw(method, url, init, this.auth.authorization(this.scope));
      if (response.status === 401) {
        await discard(response);
        throw this.auth.credentials
          ? new BootosError('AUTH_REFUSED', `${method} ${url}: the registry refused the credentials (${this.auth.describe()})`)
          : new BootosError('AUTH_REQUIRED', `${method} ${url}: the registry needs credentials`);
      }
    }
    if (response.status === 403) {
      const detail = await this.errorDetail(response);
      throw new BootosError('AUTH_REFUSED', `${method} ${url}: access denied${detail}`);
    }
    return response;
  }

  /** The Authorization header that earlier challenges taught us (none for an anonymous registry). */
  authorization(): string | undefined {
    return this.auth.authorization(this.scope);
  }

  /**
   * Answers the authentication challenge of `url` (a URL of this registry that just got a 401 elsewhere, e.g. in the
   * shared transport): a HEAD through send(), which fetches a token or checks the credentials. Afterwards
   * authorization() holds a header that works; refused or missing credentials throw AUTH_REFUSED / AUTH_REQUIRED.
   */
  async authorize(url: string): Promise<void> {
    const response = await this.send('HEAD', url, { headers: { accept: OCI_MEDIA_ACCEPT.join(', ') } });
    await discard(response);
  }

  /** Throws HTTP_ERROR naming the registry's error codes (`{"errors":[{"code":…,"message":…}]}`). */
  async fail(response: Response, what: string): Promise<never> {
    throw new BootosError('HTTP_ERROR', `${what}: HTTP ${response.status}${await this.errorDetail(response)}`);
  }

  private async errorDetail(response: Response): Promise<string> {
    let bytes: Buffer;
    try {
      bytes = await readCapped(response, this.limits.maxSmallBodyBytes, 'error body', this.transport.bodyOptions);
    } catch {
      return '';
    }
    try {
      const body = JSON.parse(bytes.toString()) as { errors?: { code?: unknown; message?: unknown }[] };
      const errors = Array.isArray(body.errors) ? body.errors : [];
      const text = errors.map((e) => [e.code, e.message].filter((x) => typeof x === 'string').join(' ')).join('; ');
      return text ? ` (${text.slice(0, 300)})` : '';
    } catch {
      return '';
    }
  }

  private async fetchToken(url: URL, authorization: string | undefined): Promise<unknown> {
    const response = await this.raw('GET', url.toString(), {}, authorization);
    if (response.status === 401 || response.status === 403) {
      await discard(response);
      throw new BootosError(authorization ? 'AUTH_REFUSED' : 'AUTH_REQUIRED', `token service ${url.origin}${url.pathname}: HTTP ${response.status}`);
    }
    if (!response.ok) return this.fail(response, `token service ${url.origin}${url.pathname}`);
    return parseJson(await readCapped(response, this.limits.maxSmallBodyBytes, 'token response', this.transport.bodyOptions), 'token response');
  }

  // ---- reading -------------------------------------------------------------------------------------------------

  async hasBlob(digest: string): Promise<boolean> {
    return this.exists('HEAD', `blobs/${digest}`, {});
  }

  async hasManifest(reference: string, mediaType: string): Promise<boolean> {
    return this.exists('HEAD', `manifests/${reference}`, { accept: mediaType });
  }

  /** The digest a tag (or digest) currently names, from HEAD's Docker-Content-Digest; null when absent. */
  async manifestDigest(reference: string, mediaType: string): Promise<string | null> {
    const response = await this.send('HEAD', `manifests/${reference}`, { headers: { accept: mediaType } });
    await discard(response);
    if (response.status === 404) return null;
    if (!response.ok) return this.fail(response, `HEAD ${this.endpoint(`manifests/${reference}`)}`);
    return response.headers.get('docker-content-digest');
  }

  /** A manifest or index by tag or digest, with the media type the registry names (capped at maxManifestBytes). */
  async getManifest(reference: string, accept: string[]): Promise<{ bytes: Buffer; mediaType: string }> {
    const response = await this.send('GET', `manifests/${reference}`, { headers: { accept: accept.join(', ') } });
    if (!response.ok) return this.fail(response, `GET ${this.endpoint(`manifests/${reference}`)}`);
    const bytes = await readCapped(response, this.limits.maxManifestBytes, `manifest ${reference}`, this.transport.bodyOptions);
    return { bytes, mediaType: (response.headers.get('content-type') ?? '').split(';')[0]!.trim() };
  }

  /** A blob's bytes as they arrive (the caller checks its digest). */
  async *blobChunks(digest: string, size: number): AsyncGenerator<Buffer> {
    const response = await this.send('GET', `blobs/${digest}`, { bodyBytes: size });
    if (!response.ok) return this.fail(response, `GET ${this.endpoint(`blobs/${digest}`)}`);
    yield* bodyChunks(response, this.transport.bodyOptions);
  }

  private async exists(method: string, rel: string, headers: Record<string, string>): Promise<boolean> {
    const response = await this.send(method, rel, { headers });
    await discard(response);
    if (response.status === 404) return false;
    if (response.ok) return true;
    return this.fail(response, `${method} ${this.endpoint(rel)}`);
  }

  // ---- writing -------------------------------------------------------------------------------------------------

  /**
   * Uploads one blob: POST an upload session, then one PUT with the whole body (monolithic) or, for blobs larger
   * than uploadChunkBytes, PATCH chunks with Content-Range and a closing PUT ?digest=. The registry checks the digest.
   * `read(start, end)` opens the bytes start..end-1 (a file stream).
   */
  async uploadBlob(digest: string, size: number, read: (start: number, end: number) => Readable): Promise<void> {
    const what = `upload of ${digest}`;
    const started = await this.send('POST', 'blobs/uploads/', { headers: { 'content-length': '0' } });
    await discard(started);
    if (started.status !== 202) return this.fail(started, what);
    let location = this.locationOf(started, what);
    const chunk = this.limits.uploadChunkBytes;
    if (size > chunk) {
      for (let start = 0; start < size; start += chunk) {
        const end = Math.min(size, start + chunk);
        const response = await this.send('PATCH', location, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - start), 'content-range': `${start}-${end - 1}` },
          body: () => read(start, end),
          bodyBytes: end - start,
        });
        await discard(response);
        if (response.status !== 202) return this.fail(response, `${what} (chunk ${start}-${end - 1})`);
        location = this.locationOf(response, what);
      }
      const done = await this.send('PUT', withDigest(location, digest), { headers: { 'content-length': '0' } });
      await discard(done);
      if (done.status !== 201) return this.fail(done, what);
      return;
    }
    const done = await this.send('PUT', withDigest(location, digest), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: () => read(0, size),
      bodyBytes: size,
    });
    if (done.status !== 201) return this.fail(done, what);
    await discard(done);
  }

  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<void> {
    const response = await this.send('PUT', `manifests/${reference}`, {
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
      bodyBytes: bytes.length,
    });
    if (response.status !== 201) return this.fail(response, `PUT manifest ${reference}`);
    await discard(response);
  }

  private locationOf(response: Response, what: string): string {
    const location = response.headers.get('location');
    if (!location) throw new BootosError('HTTP_ERROR', `${what}: the registry sent no upload Location`);
    return new URL(location, this.url.origin).toString();
  }
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
}
