// Proves: /api/events cannot be used to exhaust the device. Streams are capped per client address and in total (the
// next one is 429 API_BUSY, and a closed one frees its place), and a client that stops reading is dropped once
// the events it left unread pass maxEventBacklogBytes, so a stalled reader holds no more than the kernel's queue.
// Against the real API server on loopback, with a backend that emits events as fast as asked.
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { startApi, type ApiBackend } from '../../bootos/src/agent/api/api.js';
import { DEFAULT_LIMITS } from '../../fetcher/src/core/limits.js';

function backend(): ApiBackend & { emit(data: unknown): void } {
  const listeners = new Set<(event: 'apps' | 'step', data: unknown) => void>();
  return {
    apps: () => ({ apps: [] }),
    device: async () => ({}),
    logs: () => [],
    action: async () => {},
    checkAction: () => {},
    uptimeSeconds: () => 1,
    os: () => ({}),
    checkOsRestart: () => ({ version: '2', slot: 'b' }),
    osRestart: async () => {},
    activity: () => [],
    isScreen: () => false,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(data) {
      for (const l of listeners) l('step', data);
    },
  };
}

/** Opens GET /api/events from `localAddress`; resolves with the socket and the status line. */
function openStream(port: number, localAddress = '127.0.0.1'): Promise<{ socket: Socket; status: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => {
      socket.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    });
    socket.once('data', (chunk) => resolve({ socket, status: Number(/^HTTP\/1\.1 (\d+)/.exec(chunk.toString())?.[1] ?? 0) }));
    socket.once('error', reject);
  });
}

async function withApi(run: (port: number, b: ReturnType<typeof backend>) => Promise<void>): Promise<void> {
  const b = backend();
  const api = await startApi({ host: '127.0.0.1', port: 0, kioskDir: '/nonexistent', backend: b, limits: DEFAULT_LIMITS });
  try {
    await run(api.port, b);
  } finally {
    await api.close();
  }
}

test('streams are capped per client and in total; a closed stream frees its place', (t) =>
  withApi(async (port) => {
    const per = DEFAULT_LIMITS.maxEventStreamsPerClient;
    const open: Socket[] = [];
    try {
      for (let i = 0; i < per; i++) {
        const s = await openStream(port);
        t.is(s.status, 200);
        open.push(s.socket);
      }
      const refused = await openStream(port);
      t.is(refused.status, 429, 'one more from the same client is refused');
      refused.socket.destroy();
      // Other client addresses (all of 127/8 is loopback) fill the total.
      for (let c = 2; open.length < DEFAULT_LIMITS.maxEventStreams; c++) {
        for (let i = 0; i < per && open.length < DEFAULT_LIMITS.maxEventStreams; i++) {
          const s = await openStream(port, `127.0.0.${c}`);
          t.is(s.status, 200);
          open.push(s.socket);
        }
      }
      const full = await openStream(port, '127.0.0.99');
      t.is(full.status, 429, 'past the total, a new client is refused too');
      full.socket.destroy();
      open.shift()!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const again = await openStream(port);
      t.is(again.status, 200, 'a closed stream frees its place');
      open.push(again.socket);
    } finally {
      for (const s of open) s.destroy();
    }
  }));

test('a client that stops reading is dropped; one that reads keeps its stream', (t) =>
  withApi(async (port, b) => {
    const stalled = await openStream(port);
    stalled.socket.pause(); // never reads again: the kernel's queues fill, then the server's backlog
    const reader = await openStream(port, '127.0.0.2');
    let received = 0;
    reader.socket.on('data', (d: Buffer) => (received += d.length));
    stalled.socket.on('error', () => {});
    const payload = 'z'.repeat(64 * 1024);
    let sent = 0;
    while (sent < 64 * 1024 * 1024) {
      // 64 MiB of events: far more than the kernel's socket queues hold, so the stalled stream's backlog grows
      b.emit({ payload });
      sent += payload.length;
      await new Promise((r) => setImmediate(r));
    }
    // Read what the stalled stream still holds: a dropped stream ends after what the kernel had queued; one that was
    // kept would still be open, with tens of MiB waiting in the server.
    let held = 0;
    stalled.socket.on('data', (d: Buffer) => (held += d.length));
    const ended = await new Promise<boolean>((resolve) => {
      stalled.socket.once('close', () => resolve(true));
      stalled.socket.resume();
      setTimeout(() => resolve(false), 5000);
    });
    t.true(ended, `the stalled stream was dropped (it held ${Math.round(held / 1048576)} MiB)`);
    t.true(held < 32 * 1024 * 1024, `no more than the kernel's queues and the backlog cap reached it: ${held} bytes`);
    t.false(reader.socket.destroyed, 'the reading client keeps its stream');
    t.true(received > 0);
    reader.socket.destroy();
  }));
