// Every bound the fetcher enforces, in one place, with units in the names.
// Callers pass a Partial<Limits>; withLimits() merges it over the defaults at the boundary.

export interface Limits {
  /** Largest root.json accepted from a registry. */
  maxRootBytes: number;
  /** Largest channels/NAME.json accepted from a registry. */
  maxChannelBytes: number;
  /** Largest OCI index or manifest blob accepted (these are parsed in memory). */
  maxManifestBytes: number;
  /** Largest image config blob accepted. */
  maxConfigBytes: number;
  /** Most root versions walked in one update (a registry could otherwise feed roots forever). */
  maxRootRotations: number;

  // Registry transport (fetcher/src/transport.ts)
  /** From starting a request to its response headers: TCP connect, TLS handshake and the server's answer. */
  connectTimeoutMs: number;
  /** Longest wait for the next bytes of a response body; then the request is cut and resumed. */
  bodyIdleTimeoutMs: number;
  /** Failed attempts in a row (network error, timeout, 5xx) before a request gives up; progress resets the count. */
  maxRetries: number;
  /** First back-off delay; it doubles after every round of mirrors, with jitter. */
  retryBaseDelayMs: number;
  /** Longest back-off delay. */
  retryMaxDelayMs: number;
  /** Most Range resumes of one blob download (a server that trickles bytes cannot keep a pull alive forever). */
  maxBlobResumes: number;

  // Unpacking (fetcher/src/path-gate.ts, fetcher/src/unpack.ts), per image across its layers
  /** Longest entry path or link target, in bytes (Linux PATH_MAX). */
  maxPathBytes: number;
  /** Most path components of an entry. */
  maxPathDepth: number;
  /** Most tar entries. */
  maxEntries: number;
  /** Most bytes of file content written (decompression bomb). */
  maxUnpackedBytes: number;
  /** Most symlinks followed while checking where one link points. */
  maxSymlinkHops: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxRootBytes: 512 * 1024,
  maxChannelBytes: 1024 * 1024,
  maxManifestBytes: 1024 * 1024,
  maxConfigBytes: 256 * 1024,
  maxRootRotations: 32,
  connectTimeoutMs: 15_000,
  bodyIdleTimeoutMs: 30_000,
  maxRetries: 5,
  retryBaseDelayMs: 250,
  retryMaxDelayMs: 8_000,
  maxBlobResumes: 64,
  maxPathBytes: 4096,
  maxPathDepth: 128,
  maxEntries: 500_000,
  maxUnpackedBytes: 16 * 1024 ** 3,
  maxSymlinkHops: 40,
};

export function withLimits(overrides: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${value}`);
  }
  return limits;
}
