// Every bound that bootos enforces, in one place, with units in the names: the fetcher's (trust documents, the
// registry transport, the OCI client, unpacking, the registry server) and the device agent's (apps, updates).
// Callers pass a Partial<Limits>; withLimits() merges it over DEFAULT_LIMITS and checks it, at the boundary: the
// agent's config (agent.json `limits`, `bootos.limit.NAME=` on the kernel command line) ends up here too.

export interface Limits {
  // Trust documents and image metadata (fetcher/src/trust)
  /** Largest root.json accepted from a registry. */
  maxRootBytes: number;
  /** Largest channels/NAME.json accepted from a registry. */
  maxChannelBytes: number;
  /** Largest devices.json (the devices document) accepted from a registry: about 250 bytes per enrolled device. */
  maxDevicesBytes: number;
  /** Largest OCI index or manifest blob accepted (these are parsed in memory). */
  maxManifestBytes: number;
  /** Largest image config blob accepted. */
  maxConfigBytes: number;
  /** Most root versions walked in one update (a registry could otherwise feed roots forever). */
  maxRootRotations: number;
  /** Largest kernel or initramfs an OS release may name (docs/os-updates.md); the ESP's slot must hold both. */
  maxOsFileBytes: number;

  // Registry transport (fetcher/src/source/transport.ts): every HTTP request of a source or of the OCI client
  /** From starting a request to its response headers: TCP connect, TLS handshake and the server's answer. */
  connectTimeoutMs: number;
  /** Longest wait for the next bytes of a response body; then the request is cut and resumed. */
  bodyIdleTimeoutMs: number;
  /**
   * Longest one attempt at a document (a trust document, a manifest, a config) may take, request to last byte: a
   * registry that trickles a body never lets bodyIdleTimeoutMs fire, this cuts it (TIMEOUT, then retried).
   */
  documentTimeoutMs: number;
  /** Failed attempts in a row (network error, timeout, 5xx) before a request gives up; progress resets the count. */
  maxRetries: number;
  /** First back-off delay; it doubles after every round of mirrors, with jitter. */
  retryBaseDelayMs: number;
  /** Longest back-off delay. */
  retryMaxDelayMs: number;
  /** Most Range resumes of one blob download (a server that trickles bytes cannot keep a pull alive forever). */
  maxBlobResumes: number;
  /** Keep-alive sockets per host of a source (pulls). */
  maxSocketsPerHost: number;
  /** Most HTTP redirects followed by one request. */
  maxRedirects: number;
  /** Bytes the HTTP library buffers per response body stream. */
  bodyBufferBytes: number;
  /** Body bytes received but not yet consumed before the socket is paused (back-pressure to the server). */
  bodyQueueBytes: number;
  /** Bytes per read of a blob from a registry directory (DirSource). */
  fileReadChunkBytes: number;

  // OCI Distribution client (fetcher/src/source/oci-client.ts: push, and the authentication of the OCI source)
  /** Time for one OCI request (and a small document's body), before its size allowance (ociMinBytesPerSecond). */
  ociRequestTimeoutMs: number;
  /** Slowest acceptable OCI transfer: a body of N bytes may take ociRequestTimeoutMs + N / ociMinBytesPerSecond. */
  ociMinBytesPerSecond: number;
  /** Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks of this size. */
  uploadChunkBytes: number;
  /** Largest error or token response read. */
  maxSmallBodyBytes: number;
  /** Keep-alive sockets per host of a push client (blob uploads in parallel). */
  pushMaxSocketsPerHost: number;
  /** A bearer token is renewed this long before it expires, so that it never expires mid-request. */
  tokenRenewBeforeExpiryMs: number;

  // Registry server (`bootos serve`, fetcher/src/publish/serve.ts)
  /** Connections served at once; the server closes connections beyond it at once (clients retry). */
  serveMaxConnections: number;
  /** How long the server keeps an idle keep-alive connection open. */
  serveKeepAliveTimeoutMs: number;

  // Unpacking (fetcher/src/store/path-gate.ts, fetcher/src/store/unpack.ts), per image across its layers
  /** Longest entry path or link target, in bytes (Linux PATH_MAX). */
  maxPathBytes: number;
  /** Most path components of an entry. */
  maxPathDepth: number;
  /** Most tar entries. */
  maxEntries: number;
  /** Most bytes of file content an image unpacks to, all layers together (a device's disk, not a server's). */
  maxUnpackedBytes: number;
  /**
   * Most bytes of file content per compressed layer byte, over the image (a decompression bomb: gzip turns 10 GiB of
   * zeros into 10 MiB). Checked once an image passes compressionRatioFloorBytes, so small text-heavy images pass.
   */
  maxCompressionRatio: number;
  /** Unpacked bytes below which the compression ratio is not checked. */
  compressionRatioFloorBytes: number;
  /** Most symlinks followed while checking where one link points. */
  maxSymlinkHops: number;

  // Device agent (bootos/src/agent): the channel loop, apps, hot updates
  /** First retry delay after a failed channel fetch; doubles up to channelRetryMaxMs. */
  channelRetryMinMs: number;
  /** Longest retry delay after failed channel fetches. */
  channelRetryMaxMs: number;
  /** How long a start may take until the app's port accepts (or its health check passes). */
  startTimeoutMs: number;
  /**
   * How long the display app may take to get its kiosk on the screen (its page's event stream open to the agent):
   * a compositor and a browser engine that render in software start slower than an app answers its port.
   */
  screenStartTimeoutMs: number;
  /** Between connect attempts while an app starts. */
  readyPollMs: number;
  /** SIGTERM → SIGKILL grace period when stopping an app. */
  stopGraceMs: number;
  /** A crash loop: this many unexpected exits within crashWindowMs. */
  crashLoopCount: number;
  /** The window in which crashLoopCount exits make a crash loop. */
  crashWindowMs: number;
  /** Backoff of a failed app: first delay, doubled per further crash loop up to crashBackoffMaxMs. */
  crashBackoffMinMs: number;
  /** Longest backoff of a failed app. */
  crashBackoffMaxMs: number;
  /** Output lines kept per app (GET /api/apps/:name/logs). */
  logLines: number;
  /** Last output lines shown in an app's error (error.logTail). */
  logTailLines: number;
  /** Memory pressure: below this MemAvailable, frozen apps are stopped, longest idle first. */
  memoryLowBytes: number;
  /** How often MemAvailable is read. */
  memoryCheckIntervalMs: number;
  /** Size of each app's /tmp (a tmpfs). */
  tmpBytes: number;
  /** Open files per app process (RLIMIT_NOFILE). */
  maxOpenFiles: number;
  /** SSE: at most this often an `apps` event while something changes (progress, counters). */
  eventsThrottleMs: number;
  /** Open /api/events streams at once, all clients together (each can hold the kernel's send queue, MiBs). */
  maxEventStreams: number;
  /** Open /api/events streams of one client address. */
  maxEventStreamsPerClient: number;
  /** Event bytes queued for one stream beyond what the kernel took: a client this far behind is dropped. */
  maxEventBacklogBytes: number;
  /** Pairing (bootos/src/agent/api/pairing.ts): how long the device's current code holds before a new one is made. */
  pairCodeLifetimeMs: number;
  /** How long a paired browser's session lasts; then it pairs again. */
  pairSessionLifetimeMs: number;
  /** Pairing attempts of one client address per minute (all clients together: four times as many). */
  pairAttemptsPerMinute: number;
  /** Paired sessions kept at once; a new one beyond it ends the oldest. */
  maxPairedSessions: number;
  /** Step lines the agent keeps in memory for GET /api/activity (the kiosk's Activity after a reload); the oldest go first. */
  activityLines: number;
  /**
   * App ports (bootos/src/agent/app/proxy.ts): a connection the app refuses (its listener closed as it exits) waits
   * this long for the app's exit, then goes to its next run; one refused by an app that does not exit is closed.
   */
  proxyRefusedWaitMs: number;
  /**
   * Connections to all app ports at once, all clients together. Each costs the agent two descriptors: keep twice this
   * well below the agent's RLIMIT_NOFILE (16384 on the device, bootos/os/files/agent-run), the rest is the API's,
   * the store's and runc's. Beyond it a new connection is closed at once.
   */
  proxyMaxConnections: number;
  /**
   * Connections to app ports from one client address, all apps together (a slowloris from one machine). Half the
   * total: one address (also a NAT gateway, or a busy client whose connections pile up in an update's gap) never
   * takes everything.
   */
  proxyMaxConnectionsPerClient: number;
  /** Connections to one app, all its ports and clients together (an app accepts no more than its maxOpenFiles). */
  proxyMaxConnectionsPerApp: number;
  /** A proxied connection with no bytes either way for this long is closed (not while it waits for the app to start). */
  proxyIdleTimeoutMs: number;
  /** Hot updates: the channel is polled every channelPollIntervalMs ± channelPollJitterMs (0 = never). */
  channelPollIntervalMs: number;
  /** Random spread of the poll interval, so that a fleet does not poll in step. */
  channelPollJitterMs: number;
  /** How long a new version may take to pass its health check in a hot update. */
  updateStartTimeoutMs: number;
  /** How long the old version may keep open connections after the switch before it is stopped anyway. */
  updateDrainTimeoutMs: number;
  /** While the old version drains: a connection quiet this long after the app's last bytes (idle keep-alive) is closed. */
  updateIdleCloseMs: number;
  /** After the switch: a crash of the new version within this time rolls back; then the snapshot is dropped. */
  updateGraceMs: number;
  /** Free bytes a /data snapshot must leave on the data root. */
  snapshotReserveBytes: number;
  /**
   * Free bytes of the data root kept for the agent's own state, journals and pulls: an app's data volume is made,
   * and a download started, only while this much stays free (else DATA_FULL).
   */
  dataReserveBytes: number;
  /** How long the agent waits for the data root while /init still mounts it (<runDir>/data-pending exists). */
  dataRootWaitMs: number;
  /** Largest output read from one runc command (list, state). */
  maxRuncOutputBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxRootBytes: 512 * 1024,
  maxChannelBytes: 1024 * 1024,
  maxDevicesBytes: 4 * 1024 * 1024,
  maxManifestBytes: 1024 * 1024,
  maxConfigBytes: 256 * 1024,
  maxRootRotations: 32,
  maxOsFileBytes: 256 * 1024 * 1024,

  connectTimeoutMs: 15_000,
  bodyIdleTimeoutMs: 30_000,
  documentTimeoutMs: 60_000,
  maxRetries: 5,
  retryBaseDelayMs: 250,
  retryMaxDelayMs: 8_000,
  maxBlobResumes: 64,
  maxSocketsPerHost: 8,
  maxRedirects: 5,
  bodyBufferBytes: 256 * 1024,
  bodyQueueBytes: 256 * 1024,
  fileReadChunkBytes: 1024 * 1024,

  ociRequestTimeoutMs: 30_000,
  ociMinBytesPerSecond: 256 * 1024,
  uploadChunkBytes: 64 * 1024 * 1024,
  maxSmallBodyBytes: 64 * 1024,
  pushMaxSocketsPerHost: 16,
  tokenRenewBeforeExpiryMs: 10_000,

  serveMaxConnections: 256,
  serveKeepAliveTimeoutMs: 5_000,

  maxPathBytes: 4096,
  maxPathDepth: 128,
  maxEntries: 500_000,
  maxUnpackedBytes: 4 * 1024 ** 3,
  maxCompressionRatio: 100,
  compressionRatioFloorBytes: 64 * 1024 ** 2,
  maxSymlinkHops: 40,

  channelRetryMinMs: 1_000,
  channelRetryMaxMs: 60_000,
  startTimeoutMs: 20_000,
  screenStartTimeoutMs: 120_000,
  readyPollMs: 3,
  stopGraceMs: 5_000,
  crashLoopCount: 3,
  crashWindowMs: 60_000,
  crashBackoffMinMs: 10_000,
  crashBackoffMaxMs: 300_000,
  logLines: 200,
  logTailLines: 20,
  memoryLowBytes: 64 * 1024 * 1024,
  memoryCheckIntervalMs: 2_000,
  tmpBytes: 64 * 1024 * 1024,
  maxOpenFiles: 1024,
  eventsThrottleMs: 100,
  channelPollIntervalMs: 300_000,
  channelPollJitterMs: 60_000,
  updateStartTimeoutMs: 20_000,
  updateDrainTimeoutMs: 10_000,
  updateIdleCloseMs: 100,
  updateGraceMs: 10_000,
  snapshotReserveBytes: 16 * 1024 * 1024,
  dataReserveBytes: 32 * 1024 * 1024,
  dataRootWaitMs: 300_000,
  maxRuncOutputBytes: 4 * 1024 * 1024,
  maxEventStreams: 16,
  maxEventStreamsPerClient: 4,
  maxEventBacklogBytes: 256 * 1024,
  pairCodeLifetimeMs: 600_000,
  pairSessionLifetimeMs: 43_200_000,
  pairAttemptsPerMinute: 5,
  maxPairedSessions: 16,
  activityLines: 100,
  proxyRefusedWaitMs: 2_000,
  proxyMaxConnections: 2048,
  proxyMaxConnectionsPerClient: 1024,
  proxyMaxConnectionsPerApp: 1024,
  proxyIdleTimeoutMs: 300_000,
} satisfies Limits);

/** The names of every limit, e.g. for a config reader's list of allowed fields. */
export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/** Limits where 0 is meaningful (never, none, at once); every other limit must be a positive integer. */
const MAY_BE_ZERO: ReadonlySet<keyof Limits> = new Set<keyof Limits>([
  'stopGraceMs', 'crashWindowMs', 'crashBackoffMinMs', 'crashBackoffMaxMs', 'logTailLines', 'memoryLowBytes',
  'eventsThrottleMs', 'channelPollIntervalMs', 'channelPollJitterMs', 'updateDrainTimeoutMs', 'updateIdleCloseMs',
  'updateGraceMs', 'snapshotReserveBytes', 'dataReserveBytes', 'dataRootWaitMs',
]);

/** The unit of a limit, read from its name (units are in the names): ms, bytes, bytes/s, a ratio, or a count. */
export function limitUnit(name: keyof Limits): 'ms' | 'bytes' | 'bytes/s' | 'ratio' | 'count' {
  if (name.endsWith('Ms')) return 'ms';
  if (name.endsWith('BytesPerSecond')) return 'bytes/s';
  if (name.endsWith('Bytes')) return 'bytes';
  if (name.endsWith('Ratio')) return 'ratio';
  return 'count';
}

/** The smallest value a limit takes: 0 where 0 means something (never, none, at once), else 1. */
export function limitMinimum(name: keyof Limits): 0 | 1 {
  return MAY_BE_ZERO.has(name) ? 0 : 1;
}

/** Reports a bad limit: `field` is the limit's name. Throws. */
export type LimitFailure = (field: keyof Limits | string, message: string) => never;

const typeError: LimitFailure = (field, message) => {
  throw new TypeError(`${field} ${message}`);
};

/**
 * DEFAULT_LIMITS with `overrides` merged over them, checked: every limit a safe integer (positive unless 0 means
 * something), and the pairs that bound each other in order. A bad one goes to `fail` (default: a TypeError that
 * names the limit), e.g. `maxRetries must be a positive integer, got -1`.
 */
export function withLimits(overrides: Partial<Limits> = {}, fail: LimitFailure = typeError): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(overrides)) {
    if (!(name in DEFAULT_LIMITS)) return fail(name, `is not a limit (known: ${LIMIT_NAMES.join(', ')})`);
    if (value !== undefined) limits[name as keyof Limits] = value;
  }
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    const min = limitMinimum(name);
    if (!Number.isSafeInteger(value) || value < min) fail(name, `must be ${min ? 'a positive integer' : 'an integer ≥ 0'}, got ${value}`);
  }
  if (limits.channelRetryMaxMs < limits.channelRetryMinMs) fail('channelRetryMaxMs', 'must be at least channelRetryMinMs');
  if (limits.crashBackoffMaxMs < limits.crashBackoffMinMs) fail('crashBackoffMaxMs', 'must be at least crashBackoffMinMs');
  if (limits.proxyMaxConnectionsPerClient > limits.proxyMaxConnections) fail('proxyMaxConnectionsPerClient', 'must be at most proxyMaxConnections');
  if (limits.proxyMaxConnectionsPerApp > limits.proxyMaxConnections) fail('proxyMaxConnectionsPerApp', 'must be at most proxyMaxConnections');
  if (limits.channelPollIntervalMs > 0 && limits.channelPollJitterMs >= limits.channelPollIntervalMs) {
    fail('channelPollJitterMs', 'must be less than channelPollIntervalMs');
  }
  return limits;
}
