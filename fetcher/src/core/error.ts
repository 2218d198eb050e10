// Every failure that a user or a caller can act on carries a stable `code`. Callers and tests match on the code, never
// on the message. Each code is declared once, below, with what it means:
//   kind     refused    the input was checked and rejected (trust failures, bad archives, hostile or malformed data):
//                      trying again will not help
//            transient  may succeed later (the network, a timeout, an HTTP error status, a busy server): retried
//            usage      the call is wrong: an option or argument (USAGE: the CLI prints the verb's usage, exit 2), a
//                       name that does not exist, an action the app's state does not allow
//            local      something on this machine: the disk, the store, the runtime, the configuration, a tool
//   status   the HTTP status an API answers with this code
//   area     the subsystem that raises it (the section of docs/errors.md)
//   meaning  one line: when it happens
// docs/errors.md is generated from this table (scripts/errors-doc.ts); a unit test fails when it is out of date.

export type ErrorKind = 'refused' | 'transient' | 'usage' | 'local';

export type ErrorArea = 'common' | 'trust' | 'registry' | 'publish' | 'pull' | 'agent' | 'update' | 'build';

export interface ErrorInfo {
  readonly kind: ErrorKind;
  readonly status: number;
  readonly area: ErrorArea;
  readonly meaning: string;
}

const info = (kind: ErrorKind, status: number, area: ErrorArea, meaning: string): ErrorInfo => ({ kind, status, area, meaning });

export const ERRORS = {
  // used everywhere
  USAGE: info('usage', 400, 'common', 'a missing or invalid option or argument, or a request the API does not take'),
  JSON_INVALID: info('refused', 502, 'common', 'a JSON document does not parse, or a value cannot be canonical JSON (floats)'),
  KEY_INVALID: info('local', 500, 'common', 'a key file (or a key that a root lists) is not a base64 Ed25519 key of the right length'),
  FILE_NOT_FOUND: info('usage', 404, 'common', 'a file named on the command line or in the configuration does not exist'),
  PORT_IN_USE: info('local', 500, 'common', "a server (`bootos serve`, the agent's API) cannot listen: another program holds the address and port"),
  // publishing: image folders and the files that describe them
  SCHEMA_INVALID: info('refused', 400, 'publish', 'image.yaml, profiles.yaml, the OS recipe or its lockfile has an unknown field or a bad value; the message names the field'),
  YAML_INVALID: info('refused', 400, 'publish', 'a YAML file does not parse'),
  IMAGE_INVALID: info('refused', 400, 'publish', 'an image folder cannot be published (missing files, a path twice, special files; a file in two of its Debian packages, a package apt does not know)'),
  IMAGE_SOURCE_INVALID: info('refused', 400, 'publish', "a `from:` source image cannot be read: missing, not an OCI or Docker image, no such tag, or a blob that does not match its digest"),
  IMAGE_ARCH_MISMATCH: info('refused', 400, 'publish', 'a native program or library in an `architecture: any` image, or one built for another architecture than its platform'),
  IMAGE_ENTRYPOINT_MISSING: info('refused', 400, 'publish', "the entrypoint is not an executable file in the image of a platform (looked up in the image's PATH)"),
  // trust (device side): each one is an attack or a mistake that the device refuses
  SIGNATURE_INVALID: info('refused', 502, 'trust', 'a signature by a listed key does not verify: the signed bytes were altered or the signature forged'),
  THRESHOLD_NOT_MET: info('refused', 502, 'trust', "fewer valid signatures from distinct keys than the role's threshold"),
  UNKNOWN_KEY: info('refused', 502, 'trust', 'signed only by keys that the trusted root does not list'),
  EXPIRED: info('refused', 502, 'trust', 'the root or the channel has expired (freeze attack, or a channel not re-signed in time)'),
  ROLLBACK: info('refused', 502, 'trust', 'a version lower than one the device has already seen'),
  DOCUMENT_TOO_LARGE: info('refused', 502, 'trust', 'a trust document or manifest is over its size cap (endless data)'),
  DOCUMENT_TYPE: info('refused', 502, 'trust', 'a trust document is not shaped as a root or channel; the message names the field'),
  CHANNEL_NAME_MISMATCH: info('refused', 502, 'trust', 'the document is a validly signed channel, but of another name (mix-and-match)'),
  ROOT_VERSION_GAP: info('refused', 502, 'trust', '`roots/<N>.root.json` does not carry version N'),
  PROFILE_UNKNOWN: info('refused', 502, 'trust', 'the channel has no profile of that name'),
  PROFILE_UNKNOWN_IMAGE: info('refused', 502, 'trust', 'a profile names an image that the channel does not pin (or that is not published, when signing)'),
  IMAGE_NOT_IN_CHANNEL: info('refused', 404, 'trust', 'an image was asked for that the verified channel does not name'),
  DIGEST_MISMATCH: info('refused', 502, 'trust', "a blob's sha256 differs from the signed or digest-chained value (never committed)"),
  SIZE_MISMATCH: info('refused', 502, 'trust', "a blob's size differs from its signed size (longer: endless data; Content-Length or body beyond it, or a short blob)"),
  PLATFORM_NOT_FOUND: info('refused', 502, 'trust', "an image has no manifest for this device's architecture"),
  MEDIA_TYPE: info('refused', 502, 'trust', 'a manifest names a config or layer type bootos does not read (also zstd layers on a runtime whose zlib lacks zstd)'),
  OS_RELEASE_INVALID: info('refused', 502, 'trust', "an OS release's manifest is not bootos's OS artifact (artifact type, empty config, one kernel and one initramfs layer) or says another version or architecture than the channel's `os` entry"),
  // registry access
  NOT_FOUND: info('usage', 404, 'registry', 'the registry has no such document or blob (every mirror answered 404); from the API: no such endpoint or file'),
  HTTP_ERROR: info('transient', 502, 'registry', 'the registry answered with an HTTP error status (408, 425, 429 and 5xx are retried at once, after that at the next check)'),
  NETWORK: info('transient', 502, 'registry', 'the registry could not be reached, or the connection broke (after every retry on every mirror)'),
  TIMEOUT: info('transient', 504, 'registry', 'the registry did not answer, or sent no bytes, in time (after every retry on every mirror)'),
  REGISTRY_INVALID: info('refused', 502, 'registry', 'a registry document (index, manifest, config) is malformed; the message names the field'),
  AUTH_REQUIRED: info('local', 502, 'registry', 'an OCI registry (or its token service) wants credentials and none were given'),
  AUTH_REFUSED: info('local', 502, 'registry', 'the registry or its token service refused the credentials (401 after answering the challenge, or 403)'),
  // pulls and unpacking: every refused tar entry names why; a refused archive leaves nothing behind
  ABORTED: info('local', 500, 'pull', "the caller's AbortSignal stopped a request or a pull (the agent is stopping)"),
  STORE_INVALID: info('local', 500, 'pull', 'a store file is damaged (a committed blob whose bytes no longer match its digest, a bad refs/*.json)'),
  UNPACK_PATH_INVALID: info('refused', 502, 'pull', 'an entry path or link target is empty or has a NUL byte, or a whiteout names nothing'),
  UNPACK_PATH_TRAVERSAL: info('refused', 502, 'pull', 'an entry path has a `..` component'),
  UNPACK_ABSOLUTE_PATH: info('refused', 502, 'pull', 'an entry path starts with `/`'),
  UNPACK_PATH_TOO_LONG: info('refused', 502, 'pull', 'a path or link target over `maxPathBytes` (4096) bytes'),
  UNPACK_PATH_TOO_DEEP: info('refused', 502, 'pull', 'a path of more than `maxPathDepth` (128) components'),
  UNPACK_SYMLINK_ESCAPE: info('refused', 502, 'pull', 'a symlink whose target, followed inside the root (other links included), climbs above it; also link loops'),
  UNPACK_THROUGH_SYMLINK: info('refused', 502, 'pull', 'an entry whose parent path is a symlink: nothing is written through a link'),
  UNPACK_NOT_A_DIRECTORY: info('refused', 502, 'pull', 'an entry under a path that is a file, or a directory where a file or link was extracted'),
  UNPACK_HARDLINK_ESCAPE: info('refused', 502, 'pull', 'a hardlink target that is absolute, has `..`, or goes through a symlink'),
  UNPACK_HARDLINK_MISSING: info('refused', 502, 'pull', 'a hardlink to something not (yet) extracted as a regular file in this image'),
  UNPACK_ENTRY_TYPE: info('refused', 502, 'pull', 'a tar entry type that is not unpacked (sparse, unknown flags)'),
  UNPACK_REPLACES_DIRECTORY: info('refused', 502, 'pull', 'an entry replaces an extracted directory with a file or a link'),
  UNPACK_TOO_MANY_ENTRIES: info('refused', 502, 'pull', 'more than `maxEntries` (500 000) entries over all layers'),
  UNPACK_TOO_LARGE: info('refused', 502, 'pull', 'more than `maxUnpackedBytes` (4 GiB) of file content, or more than `maxCompressionRatio` (100) times the compressed size of its layers (a decompression bomb)'),
  UNPACK_ARCHIVE_INVALID: info('refused', 502, 'pull', 'a layer whose bytes match the signed digest does not decompress or is not a tar archive'),
  IMAGE_NOT_RECIPIENT: info('refused', 403, 'pull', "an image's layers are encrypted and none of their content keys is sealed to this device's sealing key (or the device has none): nothing is downloaded or unpacked"),
  IMAGE_DECRYPT_FAILED: info('refused', 502, 'pull', 'an encrypted layer whose bytes match the signed digest does not authenticate under its content key (a segment altered, cut short or reordered, or a sealed key that does not open): nothing is unpacked'),
  // device agent: configuration, data root, app lifecycle, runtime, local API
  CONFIG_INVALID: info('local', 500, 'agent', "the agent's configuration (kernel command line `bootos.*` keys or the `--config` JSON file) has an unknown key or a bad value; the message names it"),
  DATA_ROOT_TIMEOUT: info('local', 500, 'agent', 'the data root was still being mounted (`<runDir>/data-pending` still there) when `limits.dataRootWaitMs` ran out'),
  NO_SPACE: info('local', 507, 'pull', 'the disk (the store or the data root) is full: nothing half-written is kept; free space or remove unused images'),
  DATA_FULL: info('local', 507, 'agent', "an app's data volume cannot be made (the data root would keep less than `dataReserveBytes` free), a download would eat into that reserve, or the agent itself met a full disk (ENOSPC): nothing half-written is kept"),
  DATA_VOLUME_FAILED: info('local', 500, 'agent', "an app's `/data` volume (an ext4 file system in a file under the data root) could not be made or mounted: `mkfs.ext4` or `mount -o loop` is missing or failed; the app is not started without it"),
  IDENTITY_INVALID: info('local', 500, 'agent', "the device's identity file (`<stateDir>/identity.json`) is damaged: not JSON, a key of the wrong length, or a public key that does not match its private key; the device keeps it and is not enrolled"),
  DATA_ROOT_INVALID: info('local', 500, 'agent', "the data root cannot be used (its directories cannot be created or read: read-only, full, no permission); the message carries the system's words"),
  APP_UNKNOWN: info('usage', 404, 'agent', "the API was asked about an app that the device's profile does not have"),
  APP_STATE: info('usage', 409, 'agent', "the action is not possible in the app's state, e.g. stop a stopped app, freeze an app with open connections"),
  APP_START_FAILED: info('local', 500, 'agent', 'an app did not become ready in time (port not accepting, health check failing) or could not be prepared'),
  HOST_NETWORK_NOT_ALLOWED: info('refused', 403, 'agent', "an image asks for `network: host` and its channel's profile entry does not allow it (`hostNetwork: true`)"),
  APP_INIT_MISSING: info('local', 500, 'agent', 'an image asks for a minimal init as PID 1 (image config `init`) and the device has no usable tini (`/usr/bin/tini-static`): the app is not started without it'),
  APP_CRASHED: info('local', 500, 'agent', 'an app exited without being asked to; the next connection restarts it'),
  APP_OOM: info('local', 500, 'agent', 'an app went over its memory limit and the kernel killed it (only it); the next connection restarts it'),
  APP_FAILED: info('local', 409, 'agent', 'an app is in a crash loop: connections are refused until its backoff has passed (or `POST /api/apps/:name/start`)'),
  AGENT_ERROR: info('local', 500, 'agent', "the device itself failed without a code of its own (a file the agent cannot write or read: read-only, I/O error; or a bug); the message carries the system's words"),
  RUNTIME_ERROR: info('local', 500, 'agent', 'runc refused a command (run, kill, pause, resume, delete), or the API met an error without a code'),
  NETWORK_SETUP: info('local', 500, 'agent', "the agent could not create an app's network namespace or veth pair (`ip`)"),
  PAIRING_REFUSED: info('refused', 403, 'agent', 'a pairing code that is not the one the device shows now (wrong, used, or expired)'),
  PAIRING_TOO_MANY: info('transient', 429, 'agent', 'more pairing attempts from this client (or from all) in a minute than allowed'),
  API_BUSY: info('transient', 429, 'agent', 'the API has as many event streams open as it allows (for this client or in all); close one or try again later'),
  FORBIDDEN: info('refused', 403, 'agent', "a state-changing API call not from loopback or the kiosk's origin, or an API request whose Host is not an IP address or `localhost`"),
  // hot updates
  UPDATE_NO_SPACE: info('local', 507, 'update', "a hot update was refused before touching the running version: the data root has too little free space for a snapshot of the app's `/data`"),
  UPDATE_SKIPPED: info('refused', 409, 'update', 'the channel pins a version that already failed an update on this device; it is not tried again (a later version is)'),
  // OS updates (the disk's two slots on the EFI system partition)
  OS_VERSION_FAILED: info('refused', 409, 'update', 'the channel pins an OS release that already failed to boot on this device (systemd-boot fell back); it is never installed again (a later release is)'),
  OS_UPDATE_UNAVAILABLE: info('usage', 409, 'update', 'the device did not boot from a disk slot (PXE or a direct kernel boot: no `bootos.slot=` on its command line), or has no OS update to install or restart into'),
  ESP_INVALID: info('local', 500, 'update', 'the EFI system partition is not laid out as bootos lays it (no `loader/entries/bootos-a*.conf`, an entry that does not parse, a slot named twice)'),
  // OS image builder (bootos build / lock), the Debian packages of images (bootos lock --image, publish), QEMU
  OS_LOCK_STALE: info('refused', 400, 'build', "bootos.lock.json is missing or does not pin something bootos.yaml names; or an image's image.lock.json is missing or was not made for its image.yaml's `debian:` packages"),
  OS_PIN_GONE: info('refused', 502, 'build', 'a Debian version pinned in bootos.lock.json or an image.lock.json has left the archive'),
  OS_FETCH_FAILED: info('transient', 502, 'build', "apt-get or npm could not resolve or download an input (of the OS, or an image's Debian packages)"),
  OS_TOOL_FAILED: info('local', 500, 'build', 'a build tool (dpkg-deb, zstd, mksquashfs, icupkg, mkfs.fat, mtools, mkfs.ext4, sfdisk) failed or is missing'),
  OS_MODULE_NOT_FOUND: info('refused', 400, 'build', 'a kernel module in the recipe is neither a module nor built in'),
  OS_TREE_INVALID: info('refused', 400, 'build', 'the image tree is wrong: a path outside the root, a duplicate, a dangling link, a bad ELF, a Node binary without valid ICU data'),
  QEMU_TIMEOUT: info('local', 504, 'build', 'the expected serial output or the exit did not come in time (× `BOOTOS_TIMEOUT_FACTOR`)'),
  QEMU_EXITED: info('local', 500, 'build', 'QEMU exited (or could not start) before the expected output'),
  WORK_DIR_BUSY: info('local', 409, 'build', 'another `bootos demo` runs with the same work folder (`--work`, its `demo.lock` names the pid): one data disk and registry, one guest'),
} as const satisfies Record<string, ErrorInfo>;

/** Every code: a closed union, so a misspelt code does not compile. */
export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as readonly ErrorCode[];

function infoOf(code: string): ErrorInfo | undefined {
  // (Object.hasOwn is missing from some of the kiosk's target browsers)
  return Object.prototype.hasOwnProperty.call(ERRORS, code) ? ERRORS[code as ErrorCode] : undefined;
}

/** The code's kind; undefined for a string that is not a code (e.g. from a newer agent, read by the kiosk). */
export function errorKind(code: string): ErrorKind | undefined {
  return infoOf(code)?.kind;
}

/** May trying again later succeed (the network, a timeout, an HTTP error status)? */
export function isTransient(code: string): boolean {
  return errorKind(code) === 'transient';
}

/** Was the input checked and rejected (a trust failure, a bad archive, hostile data), so that retrying cannot help? */
export function isRefusal(code: string): boolean {
  return errorKind(code) === 'refused';
}

/** The HTTP status an API answers with this code. */
export function httpStatus(code: ErrorCode): number {
  return ERRORS[code].status;
}

export class BootosError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BootosError';
    this.code = code;
  }
}

/** Errors of the system that a user can act on, with their code: a full disk is NO_SPACE; anything else stays as it is. */
export function systemError(err: unknown, what: string): unknown {
  const errno = errnoCode(err);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return new BootosError('NO_SPACE', `${what}: the disk is full (${errno})`, { cause: err });
  return err;
}

/**
 * Any failure as a coded one, for what the agent shows: coded errors as they are, a full disk NO_SPACE, anything
 * else (EROFS, EIO, EACCES, a bug) AGENT_ERROR with the system's words — never a guess such as NETWORK (the
 * network's failures are coded where they happen, in the transport).
 */
export function agentError(err: unknown, what: string): BootosError {
  const e = systemError(err, what);
  if (isBootosError(e)) return e;
  const errno = errnoCode(e);
  return new BootosError('AGENT_ERROR', `${what}: ${(e as Error)?.message ?? String(e)}${errno && !String((e as Error)?.message).includes(errno) ? ` (${errno})` : ''}`, { cause: e });
}

/**
 * A failure as the device agent shows it: a full disk met anywhere (ENOSPC, EDQUOT, or the store's NO_SPACE) is
 * DATA_FULL, never a raw errno nor a guess; other coded errors stay as they are; anything else is `fallback` with the
 * system's words.
 */
export function deviceFailure(err: unknown, what: string, fallback: ErrorCode): BootosError {
  const errno = errnoCode(err);
  if (isBootosError(err, 'NO_SPACE') || errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new BootosError('DATA_FULL', `${what}: the data root is full (${isBootosError(err) ? err.message : errno})`, { cause: err });
  }
  return isBootosError(err) ? err : new BootosError(fallback, `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * A server that could not listen on `address` (HOST:PORT): a port another program holds is PORT_IN_USE with `hint`
 * (which option chooses another); anything else stays as it is.
 */
export function listenError(err: unknown, address: string, hint: string): unknown {
  if (errnoCode(err) === 'EADDRINUSE') return new BootosError('PORT_IN_USE', `${address} is in use by another program: ${hint}`, { cause: err });
  return err;
}

export function isBootosError(value: unknown, code?: ErrorCode): value is BootosError {
  return value instanceof BootosError && (code === undefined || value.code === code);
}

/** Node's own errors (ENOENT, ...) carry a string code too. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
