// The agent's Activity history (GET /api/activity) is bounded and numbered, and the kiosk's policy lets it frame its
// apps' pages (the "← Kiosk" app view) on exactly the host it was reached by, never a source taken from a DNS name.
import test from 'ava';
import { kioskPolicy, SECURITY_HEADERS } from '../../bootos/src/agent/api/api.js';
import { Events } from '../../bootos/src/agent/events.js';

test('the history keeps the last activityLines steps, numbered, oldest first, as the step events carry them', (t) => {
  const events = new Events(() => ({}), 0, () => {}, 3);
  const streamed: unknown[] = [];
  events.subscribe((event, data) => event === 'step' && streamed.push(data));
  for (const n of [1, 2, 3, 4, 5]) events.step('calc', `step ${n}`);
  const history = events.activity();
  t.deepEqual(history.map((e) => [e.seq, e.message]), [[3, 'step 3'], [4, 'step 4'], [5, 'step 5']]);
  t.deepEqual(history, streamed.slice(-3));
  t.false(Number.isNaN(Date.parse(history[0]!.at)));
});

test('the kiosk may frame its apps on the host it was reached by, any port; nothing for a DNS name', (t) => {
  t.regex(kioskPolicy('127.0.0.1:8080'), /; frame-src http:\/\/127\.0\.0\.1:\*$/);
  t.regex(kioskPolicy('localhost:8080'), /; frame-src http:\/\/localhost:\*$/);
  t.regex(kioskPolicy('[::1]:8080'), /; frame-src http:\/\/\[::1\]:\*$/);
  for (const host of ['evil.example:8080', "127.0.0.1; script-src 'unsafe-inline'", undefined]) {
    t.is(kioskPolicy(host), SECURITY_HEADERS['content-security-policy']!, String(host));
  }
  t.regex(kioskPolicy('192.168.1.20:8080'), /frame-ancestors 'none'/, 'the kiosk itself still cannot be framed');
});
