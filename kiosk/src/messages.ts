// Plain words for the person at the device: error codes become sentences, states become labels, numbers get units.
// Codes are those of fetcher/src/core/error.ts (docs/errors.md); an unknown code falls back to the agent's own message.
import { isTransient, type ErrorCode } from '../../fetcher/src/core/error.js';
import type { ApiError, AppState, AppView, OsView, UpdateState } from './api.js';

/** True when the code's kind is transient (could not talk to the registry; the agent retries by itself). */
export { isTransient };

const TRUST = "The channel's signature is not trusted, so nothing new is installed.";
const UNREACHABLE = 'The registry is unreachable.';
const UNSAFE = "The app's download holds files that this device does not unpack; it was refused.";
const TOO_BIG = 'The app unpacks to more than this device allows; it was refused.';

const SENTENCES: Partial<Record<ErrorCode | 'AGENT_UNREACHABLE', string>> = {
  // trust: each of these is an attack or a mistake the device refuses
  SIGNATURE_INVALID: TRUST,
  UNKNOWN_KEY: TRUST,
  THRESHOLD_NOT_MET: TRUST,
  EXPIRED: 'The channel has expired. The device keeps what it has until the publisher signs a fresh one.',
  ROLLBACK: 'The registry offered an older channel than this device has already seen; it was refused.',
  DOCUMENT_TOO_LARGE: 'The registry sent a document far larger than allowed; it was refused.',
  DOCUMENT_TYPE: 'The registry sent the wrong kind of document; it was refused.',
  CHANNEL_NAME_MISMATCH: 'The registry sent a different channel than the one this device follows; it was refused.',
  ROOT_VERSION_GAP: "The registry's keys changed in a way this device cannot follow; it was refused.",
  PROFILE_UNKNOWN: "This device's profile is not in the channel, so it has no apps to offer.",
  PROFILE_UNKNOWN_IMAGE: 'The channel names an app it does not contain.',
  IMAGE_NOT_IN_CHANNEL: 'This app is no longer in the channel.',
  DIGEST_MISMATCH: 'A download did not match its signed fingerprint and was thrown away.',
  SIZE_MISMATCH: 'A download was not the size the channel promised and was thrown away.',
  PLATFORM_NOT_FOUND: "This app has no build for this device's processor.",
  MEDIA_TYPE: 'The registry sent something that is not a bootos image.',
  REGISTRY_INVALID: 'The registry sent a malformed document; it was refused.',
  JSON_INVALID: 'The registry sent a malformed document; it was refused.',
  // registry access: the agent retries these by itself
  NETWORK: UNREACHABLE,
  TIMEOUT: UNREACHABLE,
  HTTP_ERROR: UNREACHABLE,
  NOT_FOUND: 'The registry does not have what this device asked for.',
  // apps on the device (the agent's codes)
  APP_START_FAILED: 'It did not start in time.',
  PAIRING_REFUSED: "That is not the code this device shows. Enter the code on the device's screen.",
  PAIRING_TOO_MANY: 'Too many tries. Wait a minute, then enter the code again.',
  AGENT_ERROR: 'The device ran into a problem of its own (its disk, or a bug).',
  HOST_NETWORK_NOT_ALLOWED: "This app asks to share the device's network, which its channel does not allow.",
  APP_INIT_MISSING: 'This device lacks a part the app needs to start (its init program).',
  APP_CRASHED: 'It quit unexpectedly.',
  APP_OOM: 'It ran out of its share of memory and was stopped.',
  APP_FAILED: 'It keeps quitting, so the device waits a little before trying again.',
  APP_STATE: 'That is not possible right now.',
  APP_UNKNOWN: 'This device does not have that app.',
  RUNTIME_ERROR: 'The device could not run it.',
  NETWORK_SETUP: "The device could not set up the app's network.",
  API_BUSY: 'The device has too many live views open; close another kiosk tab.',
  FORBIDDEN: "Only this device's own screen, or a browser paired with it, may do that.",
  // registry credentials (the device's configuration)
  AUTH_REQUIRED: 'The registry wants a password that this device was not given.',
  AUTH_REFUSED: "The registry refused this device's credentials.",
  // pulls and unpacking: a download that would write outside its folder, or is not what it claims, is refused
  ABORTED: 'The download was stopped.',
  STORE_INVALID: 'A downloaded file on this device was damaged; it was removed and will be fetched again.',
  UNPACK_PATH_INVALID: UNSAFE,
  UNPACK_PATH_TRAVERSAL: UNSAFE,
  UNPACK_ABSOLUTE_PATH: UNSAFE,
  UNPACK_PATH_TOO_LONG: UNSAFE,
  UNPACK_PATH_TOO_DEEP: UNSAFE,
  UNPACK_SYMLINK_ESCAPE: UNSAFE,
  UNPACK_THROUGH_SYMLINK: UNSAFE,
  UNPACK_NOT_A_DIRECTORY: UNSAFE,
  UNPACK_HARDLINK_ESCAPE: UNSAFE,
  UNPACK_HARDLINK_MISSING: UNSAFE,
  UNPACK_ENTRY_TYPE: UNSAFE,
  UNPACK_REPLACES_DIRECTORY: UNSAFE,
  UNPACK_TOO_MANY_ENTRIES: TOO_BIG,
  UNPACK_TOO_LARGE: TOO_BIG,
  UNPACK_ARCHIVE_INVALID: "The app's download is not a readable archive; it was refused.",
  IMAGE_NOT_RECIPIENT: 'This app is encrypted for other devices; the publisher has not given this device its key.',
  IMAGE_DECRYPT_FAILED: "The app's encrypted download did not authenticate; it was refused.",
  // the device itself
  USAGE: 'The device did not understand that request.',
  FILE_NOT_FOUND: 'A file the device needs is missing.',
  PORT_IN_USE: 'A port the device needs is taken by another program.',
  KEY_INVALID: 'A signing key is malformed, so nothing new is installed.',
  CONFIG_INVALID: "The device's settings are not valid.",
  DATA_ROOT_TIMEOUT: "The device's data disk did not become ready in time.",
  NO_SPACE: "The device's disk is full.",
  IDENTITY_INVALID: "The device's identity is damaged: it cannot prove which device it is.",
  DATA_ROOT_INVALID: "The device's data disk cannot be used.",
  DATA_FULL: "The device's data disk has no room left for this.",
  DATA_VOLUME_FAILED: "The device could not prepare this app's data space.",
  // hot updates
  UPDATE_NO_SPACE: 'There is not enough free space for a safe copy of its data.',
  UPDATE_SKIPPED: 'This version already failed on this device, so it is not tried again.',
  // OS updates
  OS_RELEASE_INVALID: 'The new system release is not shaped as the channel promised; it was refused.',
  OS_VERSION_FAILED: 'This system release failed to start on this device before, so it is not installed again.',
  OS_UPDATE_UNAVAILABLE: 'This device did not start from its own disk, so its system is not updated here.',
  ESP_INVALID: "The device's boot partition is not laid out as expected, so the system is not updated.",
  // the kiosk's own
  AGENT_UNREACHABLE: 'The kiosk cannot reach the device agent.',
};

/** The kiosk's sentence for a code, if it has one (a code of a newer agent has none). */
export function sentenceOf(code: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(SENTENCES, code) ? SENTENCES[code as keyof typeof SENTENCES] : undefined;
}

/**
 * The sentence for an error. With `retryInMs` (the agent tries again by itself) it says when: "The registry is
 * unreachable, retrying in 8 s." for a network failure, "… Checking again in 60 s." for a refusal.
 */
export function describeError(error: ApiError, retryInMs: number | null = null): string {
  const sentence = sentenceOf(error.code) ?? (error.message ? ensureStop(capitalize(error.message)) : `Something went wrong (${error.code}).`);
  if (retryInMs === null) return sentence;
  const seconds = Math.ceil(retryInMs / 1000);
  if (isTransient(error.code)) return `${sentence.replace(/\.$/, '')}, ${seconds > 0 ? `retrying in ${seconds} s` : 'retrying now'}.`;
  return `${sentence} ${seconds > 0 ? `Checking again in ${seconds} s.` : 'Checking again now.'}`;
}

/** What the person pressed: Open and Resume both ask the agent to `start`, and the sentences must say which. */
export type KioskAction = 'open' | 'stop' | 'freeze' | 'resume';

/**
 * The sentence under a card when the agent refused what the person pressed: `status` is the HTTP status (0 when the
 * agent could not be reached), `error` the agent's coded error. It names the button, not the API call.
 */
export function refusalSentence(app: string, action: KioskAction, status: number, error: ApiError | null): string {
  if (status === 403) {
    // A running app opens without asking the agent; only starting one is refused. A browser elsewhere may pair.
    return action === 'open'
      ? "Pair this browser to open apps that are not running: enter the code shown on the device's screen."
      : `Pair this browser to ${action} apps: enter the code shown on the device's screen.`;
  }
  if (status === 409) return `${app} cannot ${action === 'open' ? 'be opened' : action} right now.`;
  if (!error) return `Could not ${action} ${app}.`;
  return `Could not ${action} ${app}: ${lowerFirst(describeError(error))}`;
}

const STATE_LABELS: Record<AppState, string> = {
  available: 'Available',
  downloading: 'Downloading',
  cached: 'Downloaded',
  starting: 'Starting',
  running: 'Running',
  frozen: 'Frozen',
  stopping: 'Stopping',
  stopped: 'Stopped',
  failed: 'Failed',
};

export function stateLabel(state: AppState): string {
  return STATE_LABELS[state];
}

/** One line under the state: what is happening, or what will happen next. */
export function stateDetail(app: AppView): string {
  switch (app.state) {
    case 'available':
      return 'Not on this device yet. Opening it downloads it.';
    case 'downloading':
      // The percentage too: "1.1 KB of 1.1 KB" alone reads as finished while the bar still shows 93 %.
      return app.progress && app.progress.totalBytes > 0
        ? `${formatBytes(app.progress.doneBytes)} of ${formatBytes(app.progress.totalBytes)} (${percent(app.progress.doneBytes, app.progress.totalBytes)} %)`
        : 'Fetching and verifying…';
    case 'cached':
      return 'On this device, not running.';
    case 'starting':
      return 'Starting up…';
    case 'running':
      return runningDetail(app);
    case 'frozen':
      return 'Paused in memory. Opening it resumes it at once.';
    case 'stopping':
      return 'Stopping…';
    case 'stopped':
      // An unexpected exit (a crash, a memory-limit kill) leaves the app stopped with its error, shown beside this.
      return app.error ? 'Opening it starts it again. Its data is kept.' : 'Not running. Its data is kept.';
    case 'failed':
      return 'Opening it tries again.';
  }
}

function runningDetail(app: AppView): string {
  const users = app.connections === 1 ? '1 connection' : `${app.connections} connections`;
  if (!app.idle || app.idle.afterSeconds === 0) return `In use · ${users}`;
  const verb = app.idle.action === 'freeze' ? 'freezes' : 'stops';
  if (app.connections > 0) return `In use · ${users}`;
  if (app.idle.remainingSeconds !== null) return `Idle · ${verb} in ${formatDuration(app.idle.remainingSeconds)}`;
  return `Idle · ${verb} after ${formatDuration(app.idle.afterSeconds)} without use`;
}

const UPDATE_LABELS: Record<UpdateState, string> = {
  idle: '',
  downloading: 'Downloading the update',
  pending: 'Update downloaded; the next visit restarts the app on',
  preparing: 'Preparing the update (saving the app’s data)',
  starting: 'Starting the new version',
  switching: 'Switching to the new version',
  done: 'Updated',
  failed: 'Update failed; the old version keeps running',
  'rolling-back': 'The new version failed; going back to the old one',
};

export function updateLine(app: AppView): string {
  const { state, pendingVersion, error } = app.update;
  if (state === 'idle') return '';
  const to = pendingVersion ? ` ${pendingVersion}` : '';
  if (state === 'done') return `Updated${to ? ` to${to}` : ''}.`;
  if (state === 'failed') return `${UPDATE_LABELS.failed}${error ? `: ${lowerFirst(describeError(error))}` : '.'}`;
  return `${UPDATE_LABELS[state]}${to}…`;
}

/** The system-update banner: what the OS updater is doing, in plain words; null when there is nothing to say. */
export function osBanner(os: OsView | null): { kind: 'info' | 'warn'; text: string; restart: boolean } | null {
  if (!os || os.bootedFrom !== 'disk') return null;
  if (os.download) {
    return { kind: 'info', text: `Downloading system update ${os.download.version}… ${percent(os.download.doneBytes, os.download.totalBytes)} %`, restart: false };
  }
  if (os.pendingRestart) {
    return { kind: 'info', text: `System update ${os.pendingRestart.version} is ready. It takes effect when the device restarts; the apps are stopped first.`, restart: true };
  }
  if (os.fallback) {
    return { kind: 'warn', text: `System update ${os.fallback.version} did not start on this device, so it went back to ${os.version ?? 'the previous system'} and will not try ${os.fallback.version} again.`, restart: false };
  }
  if (os.error) return { kind: 'warn', text: `The system was not updated: ${lowerFirst(describeError(os.error))}`, restart: false };
  return null;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} days`;
}

export function percent(done: number, total: number): number {
  return total > 0 ? Math.min(100, Math.max(0, Math.floor((done / total) * 100))) : 0;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
function ensureStop(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

/** Why the device is not enrolled, in plain words (reason and devices state as GET /api/device gives them). */
export function notEnrolledText(reason: string, devicesState: string): string {
  if (devicesState === 'no-role') return 'Not enrolled: this registry does not enrol devices (its root has no devices role).';
  if (devicesState === 'unchecked') return 'Not checked yet: the channel is read first.';
  switch (reason) {
    case 'revoked':
      return 'Not enrolled: the administrator revoked this device.';
    case 'expired':
      return 'Not enrolled any more: the enrolment expired.';
    case 'document-expired':
      return 'Not enrolled: the list of devices expired and was not signed again in time.';
    case 'no-document':
      return devicesState === 'error' ? 'Not enrolled: the list of devices could not be read.' : 'Not enrolled: the registry lists no devices yet.';
    default:
      return 'Not enrolled yet: give the enrolment request below to the administrator.';
  }
}
