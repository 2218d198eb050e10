// Proves, against real misbehaving HTTP servers on port 0, that a blob reaches the store only whole and verified:
// a stall after a burst (the idle timeout fires, a Range resume completes the blob), a lying Content-Length, wrong
// bytes (refused, nothing left), a 500 then success (retry), a first mirror that is down (the second is used), a
// connection cut mid-blob (the resume asks only for the missing range: the bytes sent add up to the blob's size).
import test from 'ava';

// Serial: each test times a server's cut or stall against the client's timeouts, and a dozen transfers at once in one
// process starved each other's event loop on a loaded machine (a resumed request cut again: one request too many).
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { HttpSource } from '../../fetcher/src/source/http-source.js';
import { Store } from '../../fetcher/src/store/store.js';
import type { TransportEvent } from '../../fetcher/src/source/transport.js';
import { rangeStart, serveBytes, startServer, type TestServer } from '../support/http-server.js';
import { tempDir } from '../support/registry.js';

const BLOB = randomBytes(1024 * 1024 + 123);
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;
const PATH = `/blobs/sha256/${DIGEST.slice(7)}`;
const FAST = { connectTimeoutMs: 2000, bodyIdleTimeoutMs: 1000, retryBaseDelayMs: 5, retryMaxDelayMs: 20, maxRetries: 3 };

async function fetchInto(server: TestServer | string[], events: TransportEvent[] = [], limits = FAST) {
  const dir = await tempDir('bootos-store-');
  const store = new Store(dir);
  const source = new HttpSource(Array.isArray(server) ? server : [server.url], { limits, onEvent: (e) => events.push(e) });
  try {
    const path = await store.fetchBlob(source, { digest: DIGEST, size: BLOB.length });
    return { dir, store, path, error: undefined as unknown };
  } catch (error) {
    return { dir, store, path: '', error };
  } finally {
    source.close();
  }
}

async function leftovers(dir: string): Promise<string[]> {
  return [...(await readdir(join(dir, 'blobs/sha256'))), ...(await readdir(join(dir, 'tmp')))];
}

test.serial('a stall after a burst: the idle timeout fires and a Range resume completes the blob', async (t) => {
  const burst = 300 * 1024;
  const server = await startServer((req, res, _log, send) => {
    if (!req.headers.range) {
      res.writeHead(200, { 'content-length': BLOB.length });
      send(BLOB.subarray(0, burst)); // … and then nothing, with the connection left open
      return;
    }
    serveBytes(res, BLOB, req.headers.range, send);
  });
  const events: TransportEvent[] = [];
  // The stall is endless, so the idle timeout fires whatever its value; 1.5 s (longer than FAST's) keeps the resumed
  // request, which streams at once, from being cut too on a loaded machine (a third request).
  const run = await fetchInto(server, events, { ...FAST, bodyIdleTimeoutMs: 1500 });
  try {
    t.log(events.map((e) => `${e.type}${'error' in e ? ` ${e.error.code}: ${e.error.message}` : ''}`).join('\n'));
    t.is(run.error, undefined);
    t.deepEqual(await readFile(run.path), BLOB);
    t.log(JSON.stringify(server.requests));
    t.is(server.requests.length, 2);
    t.is(server.requests[1]!.range, `bytes=${burst}-`);
    t.true(events.some((e) => e.type === 'retry' && e.error.code === 'TIMEOUT'));
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a connection cut mid-blob: the resume asks only for the remaining range', async (t) => {
  const cut = 512 * 1024 + 7;
  const server = await startServer((req, res, _log, send) => {
    if (!req.headers.range) {
      res.writeHead(200, { 'content-length': BLOB.length });
      send(BLOB.subarray(0, cut));
      setTimeout(() => res.socket?.destroy(), 150);
      return;
    }
    serveBytes(res, BLOB, req.headers.range, send);
  });
  const events: TransportEvent[] = [];
  const run = await fetchInto(server, events);
  try {
    t.log(events.map((e) => `${e.type}${'error' in e ? ` ${e.error.code}: ${e.error.message}` : ''}`).join('\n'));
    t.is(run.error, undefined);
    t.deepEqual(await readFile(run.path), BLOB);
    t.deepEqual(server.requests.map((r) => r.range), [undefined, `bytes=${cut}-`]);
    // Only the missing bytes travelled again: what the server wrote adds up to exactly one blob.
    t.is(server.bytesSent(), BLOB.length);
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a Content-Length larger than the signed size is refused before the body is read', async (t) => {
  const server = await startServer((_req, res, _log, send) => {
    res.writeHead(200, { 'content-length': BLOB.length * 4 });
    send(BLOB);
    send(BLOB);
  });
  const run = await fetchInto(server);
  try {
    t.true(isBootosError(run.error, 'SIZE_MISMATCH'));
    t.deepEqual(await leftovers(run.dir), []);
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a Content-Length shorter than the body: the short body is resumed and the blob still verifies', async (t) => {
  const half = Math.floor(BLOB.length / 2);
  const server = await startServer((req, res, _log, send) => {
    if (!req.headers.range) {
      // Claims half, then writes everything and closes: a client must take only what the header says.
      res.writeHead(200, { 'content-length': half, connection: 'close' });
      send(BLOB);
      res.end();
      return;
    }
    serveBytes(res, BLOB, req.headers.range, send);
  });
  const run = await fetchInto(server);
  try {
    t.is(run.error, undefined);
    t.deepEqual(await readFile(run.path), BLOB);
    // The resume starts where the received bytes end: at `half`, or earlier when the server's close reset the
    // connection before the client had read all of them (a loaded machine); never past what the header claimed.
    const from = Number(/^bytes=(\d+)-$/.exec(server.requests[1]?.range ?? '')?.[1] ?? NaN);
    t.true(from > 0 && from <= half, `resumed from ${from}, half is ${half}`);
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a server that sends more than the signed size without a Content-Length is cut off', async (t) => {
  const server = await startServer((_req, res, _log, send) => {
    res.writeHead(200); // chunked, no length
    send(BLOB);
    send(randomBytes(4096));
    res.end();
  });
  const run = await fetchInto(server);
  try {
    t.true(isBootosError(run.error, 'SIZE_MISMATCH'));
    t.deepEqual(await leftovers(run.dir), []);
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('wrong bytes of the right size are refused and nothing is left in the store', async (t) => {
  const wrong = Buffer.from(BLOB);
  wrong[wrong.length - 1]! ^= 0xff;
  const server = await startServer((req, res, _log, send) => serveBytes(res, wrong, req.headers.range, send));
  const run = await fetchInto(server);
  try {
    t.true(isBootosError(run.error, 'DIGEST_MISMATCH'));
    t.deepEqual(await leftovers(run.dir), []);
    t.false(await run.store.hasBlob(DIGEST));
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a 500 then success: the request is retried', async (t) => {
  let calls = 0;
  const server = await startServer((req, res, _log, send) => {
    if (calls++ === 0) {
      res.writeHead(500).end();
      return;
    }
    serveBytes(res, BLOB, req.headers.range, send);
  });
  const events: TransportEvent[] = [];
  const run = await fetchInto(server, events);
  try {
    t.is(run.error, undefined);
    t.is(server.requests.length, 2);
    t.true(events.some((e) => e.type === 'retry' && e.error.code === 'HTTP_ERROR'));
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a server that always answers 503 fails with HTTP_ERROR after a bounded number of tries', async (t) => {
  const server = await startServer((_req, res) => void res.writeHead(503).end());
  const run = await fetchInto(server);
  try {
    t.true(isBootosError(run.error, 'HTTP_ERROR'));
    t.is(server.requests.length, FAST.maxRetries + 1);
    t.deepEqual(await leftovers(run.dir), []);
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a first mirror that is down: the second is used', async (t) => {
  const down = await startServer(() => {});
  const deadUrl = down.url;
  await down.close(); // nothing listens there any more: connection refused
  const good = await startServer((req, res, _log, send) => serveBytes(res, BLOB, req.headers.range, send));
  const events: TransportEvent[] = [];
  const run = await fetchInto([deadUrl, good.url], events);
  try {
    t.is(run.error, undefined);
    t.deepEqual(await readFile(run.path), BLOB);
    t.true(events.some((e) => e.type === 'mirror' && e.from === deadUrl && e.to === good.url && e.error.code === 'NETWORK'));
    t.is(good.requests.length, 1);
  } finally {
    await good.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a mirror failing mid-blob: the next mirror serves only the rest', async (t) => {
  const cut = 400 * 1024;
  const first = await startServer((_req, res, _log, send) => {
    res.writeHead(200, { 'content-length': BLOB.length });
    send(BLOB.subarray(0, cut));
    setTimeout(() => res.socket?.destroy(), 150);
  });
  const second = await startServer((req, res, _log, send) => serveBytes(res, BLOB, req.headers.range, send));
  const run = await fetchInto([first.url, second.url]);
  try {
    t.is(run.error, undefined);
    t.is(second.requests[0]!.range, `bytes=${cut}-`);
    t.is(first.bytesSent() + second.bytesSent(), BLOB.length);
  } finally {
    await first.close();
    await second.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a server that ignores Range: the bytes already held are skipped, the blob still verifies', async (t) => {
  const cut = 100 * 1024;
  let calls = 0;
  const server = await startServer((_req, res, _log, send) => {
    res.writeHead(200, { 'content-length': BLOB.length });
    if (calls++ === 0) {
      send(BLOB.subarray(0, cut));
      setTimeout(() => res.socket?.destroy(), 150);
    } else {
      send(BLOB);
      res.end();
    }
  });
  const run = await fetchInto(server);
  try {
    t.is(run.error, undefined);
    t.deepEqual(await readFile(run.path), BLOB);
    t.is(rangeStart(server.requests[1]!.range), cut);
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});

test.serial('a missing blob is NOT_FOUND', async (t) => {
  const server = await startServer((_req, res) => void res.writeHead(404).end());
  const run = await fetchInto(server);
  try {
    t.true(isBootosError(run.error, 'NOT_FOUND'));
  } finally {
    await server.close();
    await rm(run.dir, { recursive: true, force: true });
  }
});
