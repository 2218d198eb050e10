// The registry client: a RegistrySource over HTTP(S) on top of the transport (keep-alive, TLS/mTLS, timeouts,
// retries, mirrors, Range resume). Paths map to URLs under each mirror's base as on any static web server.
import { Transport, type TlsOptions, type TransportEvent } from './transport.js';
import type { Limits } from '../core/limits.js';
import { type BlobRange, type RegistrySource, type Conditional } from './source.js';

export interface HttpSourceOptions extends TlsOptions {
  /** More base URLs, tried in order when the first fails. */
  mirrors?: string[];
  limits?: Partial<Limits>;
  onEvent?: (event: TransportEvent) => void;
}

export class HttpSource implements RegistrySource {
  readonly transport: Transport;

  /** `bases`: one registry URL or a list of mirrors of the same registry, tried in order. */
  constructor(bases: string | string[], options: HttpSourceOptions = {}) {
    const mirrors = typeof bases === 'string' ? [bases, ...(options.mirrors ?? [])] : bases;
    this.transport = new Transport({ mirrors, ca: options.ca, cert: options.cert, key: options.key, limits: options.limits, onEvent: options.onEvent });
  }

  get location(): string {
    return this.transport.location;
  }

  get(path: string, maxBytes: number): Promise<Buffer | null> {
    return this.transport.getBytes(path, maxBytes);
  }

  blob(path: string, range: BlobRange): AsyncIterable<Buffer> {
    return this.transport.blob(path, range);
  }

  /** Conditional GET (If-None-Match) through the transport: mirrors, TLS, retries. */
  getIfChanged(path: string, maxBytes: number, etag: string | null): Promise<Conditional> {
    return this.transport.getIfChanged(path, maxBytes, etag);
  }

  /** Closes idle keep-alive connections (a CLI process then exits at once). */
  close(): void {
    this.transport.close();
  }
}
