// Where trust documents and blobs come from: the one interface that a registry directory (dir-source.ts), a static
// HTTP(S) server (http-source.ts) and an OCI registry (oci-source.ts) implement; open-source.ts picks one for a
// location. A source reads at most `maxBytes` (+1 to detect excess): a registry can never make the device buffer more.
import { BootosError } from '../core/error.js';

export type Conditional = { changed: false; etag: string | null } | { changed: true; bytes: Buffer; etag: string | null } | { changed: true; bytes: null; etag: null };

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
  /**
   * The document at `path` if it differs from the copy whose validator is `etag` (null: no copy yet): an unchanged
   * document costs one round trip and no bytes (HTTP `If-None-Match` → 304). `{changed: true, bytes: null}` when it
   * does not exist. Same caps and error codes as `get`.
   */
  getIfChanged(path: string, maxBytes: number, etag: string | null): Promise<Conditional>;
  /** Closes idle keep-alive connections (a CLI process then exits at once). Every opened source is closed. */
  close(): void;
}

export function tooLarge(path: string, maxBytes: number): BootosError {
  return new BootosError('DOCUMENT_TOO_LARGE', `${path} is larger than the ${maxBytes}-byte cap`);
}

