// What this file proves: each error code's kind keeps the behaviour of the hand-written lists it replaced — the same
// codes are retried (transport, store, updater, watcher, kiosk) and the same codes are shown as refused (the agent's
// channel state) — and every entry of the table is well formed.
import test from 'ava';
import { ERRORS, ERROR_CODES, errorKind, httpStatus, isRefusal, isTransient } from '../../fetcher/src/core/error.js';

test('transient: the network, a timeout, an HTTP error status (and the OS builder failing to download, the API being busy, too many pairing attempts)', (t) => {
  t.deepEqual(ERROR_CODES.filter(isTransient), ['HTTP_ERROR', 'NETWORK', 'TIMEOUT', 'PAIRING_TOO_MANY', 'API_BUSY', 'OS_FETCH_FAILED']);
  // Kept by the store for a Range resume, though not transient: an abort and a mirror that lacks the blob.
  t.false(isTransient('ABORTED'));
  t.false(isTransient('NOT_FOUND'));
});

test('refused: every code the agent showed as a refused channel before, and no code of the registry being unreachable', (t) => {
  for (const code of [
    'SIGNATURE_INVALID', 'THRESHOLD_NOT_MET', 'UNKNOWN_KEY', 'EXPIRED', 'ROLLBACK', 'DOCUMENT_TOO_LARGE', 'DOCUMENT_TYPE',
    'CHANNEL_NAME_MISMATCH', 'ROOT_VERSION_GAP', 'PROFILE_UNKNOWN', 'PROFILE_UNKNOWN_IMAGE', 'DIGEST_MISMATCH', 'SIZE_MISMATCH',
    'REGISTRY_INVALID', 'JSON_INVALID', 'MEDIA_TYPE', 'PLATFORM_NOT_FOUND',
  ]) t.true(isRefusal(code), code);
  // What a channel check can also fail with, and was shown as `retrying`: it must stay so.
  for (const code of ['NETWORK', 'TIMEOUT', 'HTTP_ERROR', 'NOT_FOUND', 'AUTH_REQUIRED', 'AUTH_REFUSED', 'KEY_INVALID', 'ABORTED']) {
    t.false(isRefusal(code), code);
  }
});

test('the API statuses it answered before', (t) => {
  t.is(httpStatus('APP_UNKNOWN'), 404);
  t.is(httpStatus('FORBIDDEN'), 403);
  t.is(httpStatus('APP_STATE'), 409);
  t.is(httpStatus('APP_FAILED'), 409);
  t.is(httpStatus('USAGE'), 400);
  t.is(httpStatus('RUNTIME_ERROR'), 500, 'an error without a code');
});

test('every entry has a kind, an HTTP error status and a one-line meaning; strings that are not codes have no kind', (t) => {
  for (const code of ERROR_CODES) {
    const { kind, status, meaning } = ERRORS[code];
    t.true(['refused', 'transient', 'usage', 'local'].includes(kind), code);
    t.true(Number.isInteger(status) && status >= 400 && status <= 599, code);
    t.regex(meaning, /^[^\n]{10,}$/, code);
    t.notRegex(meaning, /\.$/, `${code}: a meaning is a phrase, without a full stop`);
  }
  for (const notACode of ['SOMETHING_NEW', 'constructor', 'toString', '__proto__', '']) t.is(errorKind(notACode), undefined, notACode);
  t.false(ERROR_CODES.includes('PATH_REFUSED' as never), 'never raised: gone');
});
