// The kiosk's words and its reading of the API, without a browser: every error code the device can report reads as
// a sentence, retries count down, and malformed or newer API JSON never throws (the screen must not go blank).
import test from 'ava';
import { readApps, readDevice, readError, readStep } from '../../kiosk/src/api.js';
import { describeError, formatBytes, formatDuration, osBanner, refusalSentence, sentenceOf, stateDetail, updateLine } from '../../kiosk/src/messages.js';
import { ERROR_CODES, ERRORS } from '../../fetcher/src/core/error.js';

const error = (code: string, message = 'technical detail') => ({ code, message, logTail: [] });

test('trust failures say the signature is not trusted; network failures say when the agent retries', (t) => {
  for (const code of ['SIGNATURE_INVALID', 'UNKNOWN_KEY', 'THRESHOLD_NOT_MET']) {
    t.is(describeError(error(code)), "The channel's signature is not trusted, so nothing new is installed.");
  }
  for (const code of ['NETWORK', 'TIMEOUT', 'HTTP_ERROR']) {
    t.is(describeError(error(code), 8000), 'The registry is unreachable, retrying in 8 s.');
    t.is(describeError(error(code), 7200), 'The registry is unreachable, retrying in 8 s.', 'rounds up');
    t.is(describeError(error(code), 0), 'The registry is unreachable, retrying now.');
  }
  t.is(describeError(error('EXPIRED'), 60_000), 'The channel has expired. The device keeps what it has until the publisher signs a fresh one. Checking again in 60 s.');
  t.regex(describeError(error('ROLLBACK')), /older channel/);
});

// Every code the agent can put in /api/apps (channel, app or update errors) or answer an action with: all codes of
// the table but the publisher's and the OS builder's. A code added to fetcher/src/core/error.ts needs a sentence.
const DEVICE_CODES = ERROR_CODES.filter((code) => ERRORS[code].area !== 'publish' && ERRORS[code].area !== 'build');

test('every error code the device reports reads as a sentence of its own, never as the technical message', (t) => {
  // The codes this test was first written for are among them.
  for (const code of [
    'SIGNATURE_INVALID', 'THRESHOLD_NOT_MET', 'UNKNOWN_KEY', 'EXPIRED', 'ROLLBACK', 'DOCUMENT_TOO_LARGE', 'DOCUMENT_TYPE',
    'CHANNEL_NAME_MISMATCH', 'ROOT_VERSION_GAP', 'PROFILE_UNKNOWN', 'PROFILE_UNKNOWN_IMAGE', 'IMAGE_NOT_IN_CHANNEL',
    'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'PLATFORM_NOT_FOUND', 'MEDIA_TYPE', 'NOT_FOUND', 'HTTP_ERROR', 'NETWORK', 'TIMEOUT',
    'REGISTRY_INVALID', 'JSON_INVALID', 'APP_UNKNOWN', 'APP_STATE', 'APP_START_FAILED', 'APP_CRASHED', 'APP_OOM',
    'APP_FAILED', 'RUNTIME_ERROR', 'NETWORK_SETUP', 'FORBIDDEN',
  ] as const) t.true(DEVICE_CODES.includes(code), `${code} is a code the device reports`);
  for (const code of DEVICE_CODES) {
    t.truthy(sentenceOf(code), `${code} has a sentence in kiosk/src/messages.ts`);
    const sentence = describeError(error(code, 'zzz technical'));
    t.notRegex(sentence, /zzz/i, code);
    t.regex(sentence, /^[A-Z].*\.$/, code);
  }
  // An unknown code (a newer agent) falls back to the agent's message, made into a sentence.
  t.is(describeError(error('SOMETHING_NEW', 'disk is full')), 'Disk is full.');
  t.is(describeError(error('SOMETHING_NEW', '')), 'Something went wrong (SOMETHING_NEW).');
  t.is(describeError(error('constructor', '')), 'Something went wrong (constructor).', 'a code is looked up as a key of its own');
});

test('states and updates in words', (t) => {
  const base = readApps({ apps: [{ name: 'calc', state: 'running', connections: 0, idle: { afterSeconds: 30, action: 'freeze', remainingSeconds: 12 } }] }).apps[0]!;
  t.is(stateDetail(base), 'Idle · freezes in 12 s');
  t.is(stateDetail({ ...base, connections: 2 }), 'In use · 2 connections');
  t.is(stateDetail({ ...base, state: 'downloading', progress: { doneBytes: 1536, totalBytes: 2 * 1024 * 1024 } }), '1.5 KB of 2.0 MB (0 %)');
  t.is(stateDetail({ ...base, state: 'downloading', progress: { doneBytes: 1100, totalBytes: 1177 } }), '1.1 KB of 1.1 KB (93 %)', 'the text never reads as done before the bar is');
  t.is(stateDetail({ ...base, state: 'stopped', error: error('APP_CRASHED') }), 'Opening it starts it again. Its data is kept.');
  t.is(updateLine({ ...base, update: { state: 'downloading', pendingVersion: '1.1.0', error: null } }), 'Downloading the update 1.1.0…');
  t.is(updateLine({ ...base, update: { state: 'failed', pendingVersion: '1.1.0', error: error('DIGEST_MISMATCH') } }), 'Update failed; the old version keeps running: a download did not match its signed fingerprint and was thrown away.');
  t.is(formatBytes(0), '0 B');
});

test('a refused action names the button that was pressed, not the API call (Resume and Open both start)', (t) => {
  const forbidden = error('FORBIDDEN');
  t.is(refusalSentence('calc', 'resume', 403, forbidden), "Pair this browser to resume apps: enter the code shown on the device's screen.");
  t.is(refusalSentence('calc', 'stop', 403, forbidden), "Pair this browser to stop apps: enter the code shown on the device's screen.");
  t.is(refusalSentence('calc', 'freeze', 403, forbidden), "Pair this browser to freeze apps: enter the code shown on the device's screen.");
  t.is(refusalSentence('calc', 'open', 403, forbidden), "Pair this browser to open apps that are not running: enter the code shown on the device's screen.");
  t.is(refusalSentence('calc', 'resume', 409, error('APP_STATE')), 'calc cannot resume right now.');
  t.is(refusalSentence('calc', 'open', 409, error('APP_STATE')), 'calc cannot be opened right now.');
  t.is(refusalSentence('calc', 'freeze', 0, error('AGENT_UNREACHABLE')), 'Could not freeze calc: the kiosk cannot reach the device agent.');
  t.is(refusalSentence('calc', 'stop', 500, null), 'Could not stop calc.');
  t.is(formatBytes(536_870_912), '512 MB');
  t.is(formatDuration(3720), '1 h 2 min');
});

test('malformed, hostile or newer API JSON is read without throwing', (t) => {
  for (const junk of [null, 42, 'x', [], { apps: 'no' }, { apps: [null, 1, { name: 7 }, { state: 'running' }] }, { channel: { state: 'exploded', version: '3' } }]) {
    const view = readApps(junk);
    t.deepEqual(view.apps, []);
    t.true(['ok', 'retrying', 'error'].includes(view.channel.state));
  }
  const odd = readApps({
    apps: [{ name: 'calc', state: 'teleporting', port: 70000, progress: { doneBytes: -5, totalBytes: 'lots' }, connections: -1, extra: true, error: 'boom' }],
    channel: { state: 'retrying', retryInMs: 8000, error: { code: 'NETWORK', message: 'x', logTail: 'not a list' } },
  });
  const app = odd.apps[0]!;
  t.is(app.state, 'available');
  t.is(app.port, null);
  t.deepEqual(app.progress, { doneBytes: 0, totalBytes: 0 });
  t.is(app.connections, 0);
  t.deepEqual(app.error, { code: 'UNKNOWN', message: 'boom', logTail: [] });
  t.deepEqual(odd.channel.error, { code: 'NETWORK', message: 'x', logTail: [] });
  t.is(readError(undefined), null);
  t.is(readStep({ app: 'calc' }), null);
  t.deepEqual(readDevice({ disks: [{ mount: '/data', sizeBytes: 'big' }] }).disks, [{ mount: '/data', sizeBytes: 0, usedBytes: 0 }]);
});

test('the system-update banner: download, ready to restart, a fallback, an error; nothing for PXE or an old agent', (t) => {
  const base = { bootedFrom: 'disk', slot: 'a', version: '1', available: null, download: null, pendingRestart: null, fallback: null, error: null };
  const os = (extra: Record<string, unknown>) => readApps({ os: { ...base, ...extra } }).os;
  t.is(osBanner(os({})), null);
  t.deepEqual(osBanner(os({ download: { version: '2', doneBytes: 50, totalBytes: 200 } })), { kind: 'info', text: 'Downloading system update 2… 25 %', restart: false });
  t.like(osBanner(os({ pendingRestart: { version: '2', slot: 'b' } })), { kind: 'info', restart: true });
  t.regex(osBanner(os({ pendingRestart: { version: '2', slot: 'b' } }))!.text, /ready\. It takes effect when the device restarts/);
  t.like(osBanner(os({ slot: 'b', version: '2', fallback: { version: '3', slot: 'a' } })), { kind: 'warn', text: 'System update 3 did not start on this device, so it went back to 2 and will not try 3 again.' });
  t.regex(osBanner(os({ error: { code: 'OS_VERSION_FAILED', message: 'x' } }))!.text, /^The system was not updated: this system release failed to start/);
  t.is(osBanner(os({ bootedFrom: 'other', slot: null, version: null })), null);
  t.is(readApps({}).os, null, 'an agent without OS updates');
  t.is(readApps({ os: { bootedFrom: 'moon' } }).os, null);
  t.is(readApps({ os: 'nonsense' }).os, null);
});
