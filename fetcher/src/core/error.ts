// Every failure that a user or a caller can act on carries a stable `code`.
// Callers and tests match on the code, never on the message. docs/errors.md lists them all.

export const ERROR_CODES = [
  // usage and input files
  'USAGE',
  'SCHEMA_INVALID',
  'YAML_INVALID',
  'JSON_INVALID',
  'KEY_INVALID',
  'FILE_NOT_FOUND',
  // trust (device side): each one is an attack or a mistake that the device refuses
  'SIGNATURE_INVALID',
  'THRESHOLD_NOT_MET',
  'UNKNOWN_KEY',
  'EXPIRED',
  'ROLLBACK',
  'DOCUMENT_TOO_LARGE',
  'DOCUMENT_TYPE',
  'CHANNEL_NAME_MISMATCH',
  'ROOT_VERSION_GAP',
  'PROFILE_UNKNOWN',
  'PROFILE_UNKNOWN_IMAGE',
  'IMAGE_NOT_IN_CHANNEL',
  'DIGEST_MISMATCH',
  'SIZE_MISMATCH',
  'PLATFORM_NOT_FOUND',
  'MEDIA_TYPE',
  // registry access
  'NOT_FOUND',
  'HTTP_ERROR',
  'NETWORK',
  'TIMEOUT',
  'REGISTRY_INVALID',
  // publishing
  'IMAGE_INVALID',
  // serving
  'PATH_REFUSED',
  // OCI registries (issue 9): authentication
  'AUTH_REQUIRED',
  'AUTH_REFUSED',
  // pulls and unpacking (issue 3): every refused tar entry names why; a refused archive leaves nothing behind
  'ABORTED',
  'STORE_INVALID',
  'UNPACK_PATH_INVALID',
  'UNPACK_PATH_TRAVERSAL',
  'UNPACK_ABSOLUTE_PATH',
  'UNPACK_PATH_TOO_LONG',
  'UNPACK_PATH_TOO_DEEP',
  'UNPACK_SYMLINK_ESCAPE',
  'UNPACK_THROUGH_SYMLINK',
  'UNPACK_NOT_A_DIRECTORY',
  'UNPACK_HARDLINK_ESCAPE',
  'UNPACK_HARDLINK_MISSING',
  'UNPACK_SPECIAL_FILE',
  'UNPACK_ENTRY_TYPE',
  'UNPACK_REPLACES_DIRECTORY',
  'UNPACK_TOO_MANY_ENTRIES',
  'UNPACK_TOO_LARGE',
  'UNPACK_ARCHIVE_INVALID',
  // device agent (issue 5): configuration, app lifecycle, runtime, local API
  'CONFIG_INVALID',
  'APP_UNKNOWN',
  'APP_STATE',
  'APP_START_FAILED',
  'APP_CRASHED',
  'APP_OOM',
  'APP_FAILED',
  'RUNTIME_ERROR',
  'NETWORK_SETUP',
  'FORBIDDEN',
  'DATA_ROOT_TIMEOUT',
  // OS image builder (bootos build / lock) and the QEMU harness
  'OS_LOCK_STALE',
  'OS_PIN_GONE',
  'OS_FETCH_FAILED',
  'OS_TOOL_FAILED',
  'OS_MODULE_NOT_FOUND',
  'OS_TREE_INVALID',
  'QEMU_TIMEOUT',
  'QEMU_EXITED',
  // hot updates (issue 6)
  'UPDATE_NO_SPACE',
  'UPDATE_SKIPPED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class BootosError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BootosError';
    this.code = code;
  }
}

export function isBootosError(value: unknown, code?: ErrorCode): value is BootosError {
  return value instanceof BootosError && (code === undefined || value.code === code);
}

/** Node's own errors (ENOENT, ...) carry a string code too. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
