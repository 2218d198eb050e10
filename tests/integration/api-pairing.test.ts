// Pairing a browser that is not the device's own screen, against the real agent: the device's code (on its log, the
// serial console; and in GET /api/pairing for the device itself only), a visitor's read-only rights and the sentence
// it gets, a wrong code (PAIRING_REFUSED) and too many (PAIRING_TOO_MANY), the session cookie (HttpOnly,
// SameSite=Strict) that then lets it stop an app, a foreign Origin refused even with the cookie, a code that works
// once, and the device ending every session.
import test from 'ava';
import { request } from 'node:http';
import { join } from 'node:path';
import { agentEnv, type AgentEnv } from '../support/agent.js';
import { IMAGES } from '../support/registry.js';

let env: AgentEnv;
const lines: string[] = [];

test.before(async () => {
  env = await agentEnv({ images: [join(IMAGES, 'hello')], log: (l) => lines.push(l), limits: { pairAttemptsPerMinute: 3 } });
});
test.after.always(async () => {
  await env?.teardown();
});

/** A request as a browser elsewhere sends it: the device named by a LAN address in Host (so: not the device). */
function visitor(method: string, path: string, options: { body?: unknown; cookie?: string; origin?: string; host?: string; from?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }> {
  const host = options.host ?? `192.0.2.10:${env.agent.api.port}`;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', localAddress: options.from ?? '127.0.0.1', port: env.agent.api.port, method, path, headers: { host, ...(options.cookie ? { cookie: options.cookie } : {}), ...(options.origin ? { origin: options.origin } : {}), ...(body ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const deviceCode = async () => (await (await env.api('/api/pairing')).json()) as { role: string; code: string; sessions: number };

test.serial('the device sees its code, which is also on its console; a visitor sees only that it is not paired', async (t) => {
  const device = await deviceCode();
  t.is(device.role, 'device');
  t.regex(device.code, /^\d{4} \d{4}$/);
  t.true(lines.some((l) => l.includes(`pairing code ${device.code}`)), lines.join('\n'));
  const seen = await visitor('GET', '/api/pairing');
  t.deepEqual(seen.json, { role: 'visitor' });
  const stop = await visitor('POST', '/api/apps/hello/stop');
  t.is(stop.status, 403);
  t.regex(stop.json.error.message, /not paired.*enter the code the device shows/);
});

test.serial('a wrong code is refused, and too many attempts are held off', async (t) => {
  // From another loopback address: the count is per client address.
  const from = '127.0.0.5';
  const wrong = await visitor('POST', '/api/pairing', { body: { code: '0000 0000' }, from });
  t.is(wrong.status, 403);
  t.is(wrong.json.error.code, 'PAIRING_REFUSED');
  t.is(wrong.headers['set-cookie'], undefined);
  await visitor('POST', '/api/pairing', { body: { code: 'x' }, from });
  await visitor('POST', '/api/pairing', { body: { code: 'y' }, from });
  const held = await visitor('POST', '/api/pairing', { body: { code: (await deviceCode()).code }, from });
  t.is(held.status, 429, 'even the right code, after too many wrong ones in a minute');
  t.is(held.json.error.code, 'PAIRING_TOO_MANY');
});

test.serial('the right code pairs: a strict HttpOnly cookie that may stop an app; a foreign Origin may not; the code works once', async (t) => {
  const { code } = await deviceCode();
  const origin = `http://192.0.2.10:${env.agent.api.port}`;
  const paired = await visitor('POST', '/api/pairing', { body: { code: code.replace(' ', '-') }, origin });
  t.is(paired.status, 200, JSON.stringify(paired.json));
  const cookie = String(paired.headers['set-cookie']);
  t.regex(cookie, /^bootos_pair=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  const jar = cookie.split(';')[0]!;
  t.is((await visitor('GET', '/api/pairing', { cookie: jar })).json.role, 'paired');
  const evil = await visitor('POST', '/api/apps/hello/start', { cookie: jar, origin: 'http://evil.example' });
  t.is(evil.status, 403, 'a foreign page is refused even with the cookie');
  const start = await visitor('POST', '/api/apps/hello/start', { cookie: jar, origin });
  t.is(start.status, 202);
  const again = await visitor('POST', '/api/pairing', { body: { code } });
  t.is(again.json.error?.code, 'PAIRING_REFUSED', 'a code works once');
  t.not((await deviceCode()).code, code, 'and a new one is shown');
  t.is((await deviceCode()).sessions, 1);

  // The person at the device ends every pairing.
  const revoke = await visitor('POST', '/api/pairing/revoke', { cookie: jar, origin });
  t.is(revoke.status, 403, 'a paired browser cannot end the pairings');
  const ended = await env.api('/api/pairing/revoke', { method: 'POST' });
  t.deepEqual(await ended.json(), { ended: 1 });
  t.is((await visitor('POST', '/api/apps/hello/stop', { cookie: jar, origin })).status, 403);
});
