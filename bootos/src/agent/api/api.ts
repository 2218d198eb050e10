// The local API (docs/api.md) and the kiosk's static files, on one HTTP port.
// Who may change state (docs/security.md): a request from a loopback address whose Host names this machine by a
// loopback name and whose Origin, if any, is the kiosk's own, from a socket owned by root (peer-uid.ts: apps never
// run as root, and an app with network: host connects from loopback too). Every /api request must name the device by an IP
// address or `localhost` in Host, which stops DNS-rebinding pages from reading the API.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { extname, join, sep } from 'node:path';
import { BootosError, httpStatus, isBootosError, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { Limits } from '../../../../fetcher/src/core/limits.js';
import { safeRelative } from '../../../../fetcher/src/core/static-files.js';
import { socketOwner } from './peer-uid.js';
import { Pairing, type PairingLimits } from './pairing.js';

export interface ApiBackend {
  apps(): unknown;
  device(): Promise<unknown>;
  logs(name: string): string[];
  /** The last step lines, oldest first (events.ts StepEntry). */
  activity(): unknown[];
  action(name: string, action: 'start' | 'stop' | 'freeze'): Promise<void>;
  /** Checks that an action is possible now (throws APP_UNKNOWN / APP_STATE), before 202 is answered. */
  checkAction(name: string, action: 'start' | 'stop' | 'freeze'): void;
  uptimeSeconds(): number;
  /** GET /api/os: the OS updater's status (docs/os-updates.md). */
  os(): unknown;
  /** Checks that a restart would boot a newer OS release (throws OS_UPDATE_UNAVAILABLE), before 202 is answered. */
  checkOsRestart(): { version: string; slot: string };
  /** Stops the apps cleanly, then restarts the device into the pending OS release. */
  osRestart(): Promise<void>;
  onEvent(listener: (event: 'apps' | 'step' | 'screen', data: unknown) => void): () => void;
  /** Is `address` the display app's own (the veth address of one of its running instances)? */
  isScreen(address: string): boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/**
 * Sent with every answer of the kiosk port. The kiosk has no inline script or style, so the policy allows only its
 * own files; `frame-ancestors 'none'` and X-Frame-Options stop any page (an app's, or a site's) from framing the
 * kiosk under a decoy so that a click lands on Stop (clickjacking).
 */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The kiosk shows an app's page in a frame under its "← Kiosk" bar (the kiosk browser on the device has no browser
 * chrome, so a page of its own is the only way back). Apps are on the kiosk's host at their own ports: the page may
 * frame exactly that host on any port, and only when the Host names the device by IP address or localhost (a name
 * that goes into the policy must not be able to add sources of its own).
 */
export function kioskPolicy(host: string | undefined): string {
  const base = SECURITY_HEADERS['content-security-policy']!;
  if (!hostAllowed(host)) return base;
  const { name } = hostPart(host!);
  return `${base}; frame-src http://${isIP(name) === 6 ? `[${name}]` : name}:*`;
}

const NO_KIOSK = `<!doctype html><meta charset="utf-8"><title>bootos</title>
<h1>bootos</h1><p>The kiosk is not installed next to the agent (no kiosk/ folder beside the bundle).
The agent runs: see <a href="/api/apps">/api/apps</a>.</p>\n`;

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\./.test(a);
}

function hostPart(host: string): { name: string; port: string } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  return m ? { name: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ?? '80' } : { name: '', port: '' };
}

/** A Host header that names the device as an IP address or localhost (not a DNS name an attacker controls). */
export function hostAllowed(host: string | undefined): boolean {
  if (!host) return false;
  const { name } = hostPart(host);
  return name === 'localhost' || isIP(name) !== 0;
}

/**
 * Is this request from the device's own screen? Its peer is the address of the display app's veth (each app has a
 * network namespace of its own and no capability to send from another address; a LAN client spoofing it never
 * completes a handshake), its Host names the API port by IP address, and its Origin, if the browser sends one, is the
 * kiosk's own: a page of another app shown in the screen's browser has another origin.
 */
export function fromScreen(req: Pick<IncomingMessage, 'headers'> & { socket: { remoteAddress?: string } }, apiPort: number, isScreen: (address: string) => boolean): boolean {
  const peer = unmapped(req.socket.remoteAddress ?? '');
  if (!peer || isLoopback(peer) || !isScreen(peer)) return false;
  const host = req.headers.host;
  if (!host) return false;
  const { name, port } = hostPart(host);
  if (isIP(name) === 0 || Number(port) !== apiPort) return false;
  const origin = req.headers.origin;
  return origin === undefined || origin === `http://${host}`;
}

/** An IPv4 address as itself, not mapped into IPv6 (`::ffff:10.0.0.2` → `10.0.0.2`). */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** May this request change state? */
export function mayChangeState(req: Pick<IncomingMessage, 'headers'> & { socket: { remoteAddress?: string } }, apiPort: number): boolean {
  if (!isLoopback(req.socket.remoteAddress)) return false;
  const host = req.headers.host;
  if (!host) return false;
  const { name, port } = hostPart(host);
  if (!(name === 'localhost' || isLoopback(name)) || Number(port) !== apiPort) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser page (curl, the tests, a kiosk-side script)
  // A browser page: only the kiosk itself, served from this port (an app's page has another port: another origin).
  return origin === `http://${host}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  const code: ErrorCode = isBootosError(err) ? err.code : 'RUNTIME_ERROR';
  sendJson(res, httpStatus(code), { error: { code, message: (err as Error).message } });
}

export interface ApiServer {
  server: Server;
  port: number;
  /** Is an event stream open from the device's own screen at `address` (the display app's health: its kiosk is up)? */
  screenStreamFrom(address: string): boolean;
  close(): Promise<void>;
}

export type ApiLimits = Pick<Limits, 'maxEventStreams' | 'maxEventStreamsPerClient' | 'maxEventBacklogBytes'> & PairingLimits;

/** Largest request body the API reads (a pairing code). */
const MAX_BODY_BYTES = 1024;

export async function startApi(options: {
  host: string;
  port: number;
  kioskDir: string;
  backend: ApiBackend;
  limits: ApiLimits;
  log?: (line: string) => void;
}): Promise<ApiServer> {
  const { backend, limits } = options;
  const pairing = new Pairing(limits, (line) => options.log?.(line));
  // Event streams, each with its client's address and whether it is the device's own screen (`screen` events go to
  // those alone). A stream whose client stops reading is dropped once the events the kernel could not take exceed
  // maxEventBacklogBytes: a stalled reader holds the kernel's queue and no more.
  const streams = new Map<ServerResponse, { client: string; screen: boolean }>();
  let apiPort = options.port;

  const unsubscribe = backend.onEvent((event, data) => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const [res, stream] of streams) if (event !== 'screen' || stream.screen) send(res, frame);
  });

  const send = (res: ServerResponse, frame: string) => {
    res.write(frame);
    if (res.writableLength > limits.maxEventBacklogBytes) {
      streams.delete(res);
      res.destroy();
    }
  };

  const serveKiosk = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    let root: string;
    try {
      root = await realpath(options.kioskDir);
    } catch {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(NO_KIOSK);
      return;
    }
    const rel = pathname === '/' ? 'index.html' : safeRelative(pathname);
    if (!rel) return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'no such file' } });
    try {
      const file = await realpath(join(root, rel));
      if (!file.startsWith(root + sep)) throw new Error('outside');
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': st.size, 'cache-control': 'no-cache' });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file).pipe(res);
    } catch {
      if (pathname === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(NO_KIOSK);
      else sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'no such file' } });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const url = new URL(req.url ?? '/', 'http://device');
    const path = url.pathname;
    if (!path.startsWith('/api/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: { code: 'USAGE', message: 'GET only' } });
      res.setHeader('content-security-policy', kioskPolicy(req.headers.host));
      return serveKiosk(req, res, path);
    }
    if (!hostAllowed(req.headers.host)) {
      return sendError(res, new BootosError('FORBIDDEN', 'the Host header must name the device by IP address or localhost'));
    }
    if (path === '/api/pairing') {
      if (req.method === 'GET') return sendJson(res, 200, await pairingView(req));
      if (req.method !== 'POST') return sendJson(res, 405, { error: { code: 'USAGE', message: 'GET or POST' } });
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `http://${req.headers.host}`) {
        return sendError(res, new BootosError('FORBIDDEN', "pairing is accepted only from the kiosk's own page"));
      }
      const body = await readBody(req);
      const code = typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : '';
      const session = pairing.pair(code, req.socket.remoteAddress ?? '');
      res.setHeader('set-cookie', pairing.cookie(session.token));
      options.log?.(`paired a browser at ${req.socket.remoteAddress ?? '?'} until ${session.expiresAt}`);
      return sendJson(res, 200, { role: 'paired', sessionExpiresAt: session.expiresAt });
    }
    if (path === '/api/pairing/revoke') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: { code: 'USAGE', message: 'POST only' } });
      if ((await roleOf(req)) !== 'device') return sendError(res, new BootosError('FORBIDDEN', 'only the device itself may end the pairings'));
      const ended = pairing.revoke();
      options.log?.(`ended ${ended} paired session(s)`);
      return sendJson(res, 200, { ended });
    }
    const action = /^\/api\/apps\/([a-z0-9-]+)\/(start|stop|freeze)$/.exec(path);
    if (action) {
      if (req.method !== 'POST') return sendJson(res, 405, { error: { code: 'USAGE', message: 'POST only' } });
      const [, name, verb] = action as unknown as [string, string, 'start' | 'stop' | 'freeze'];
      const role = await roleOf(req);
      if (role === 'visitor') {
        return sendError(res, new BootosError('FORBIDDEN', `${verb} ${name}: ${forbiddenReason(req)}`));
      }
      backend.checkAction(name, verb);
      backend.action(name, verb).catch((err) => options.log?.(`${verb} ${name}: ${(err as Error).message}`));
      return sendJson(res, 202, { ok: true });
    }
    if (path === '/api/os/restart') {
      // Never in the middle of work without consent: only the device itself or a paired browser may ask.
      if (req.method !== 'POST') return sendJson(res, 405, { error: { code: 'USAGE', message: 'POST only' } });
      if ((await roleOf(req)) === 'visitor') return sendError(res, new BootosError('FORBIDDEN', `restart: ${forbiddenReason(req)}`));
      const pending = backend.checkOsRestart();
      options.log?.(`OS restart into release ${pending.version} (slot ${pending.slot}) asked by ${req.socket.remoteAddress ?? '?'}`);
      // The answer goes out before the apps stop and the API closes.
      sendJson(res, 202, { ok: true, restartingInto: pending });
      res.once('finish', () => void backend.osRestart().catch((err) => options.log?.(`OS restart: ${(err as Error).message}`)));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: { code: 'USAGE', message: 'GET only' } });
    if (path === '/api/os') return sendJson(res, 200, backend.os());
    if (path === '/api/health') return sendJson(res, 200, { ok: true, uptimeSeconds: backend.uptimeSeconds() });
    if (path === '/api/apps') return sendJson(res, 200, backend.apps());
    if (path === '/api/device') return sendJson(res, 200, await backend.device());
    if (path === '/api/activity') return sendJson(res, 200, { entries: backend.activity() });
    const logs = /^\/api\/apps\/([a-z0-9-]+)\/logs$/.exec(path);
    if (logs) return sendJson(res, 200, { lines: backend.logs(logs[1]!) });
    if (path === '/api/events') {
      const client = req.socket.remoteAddress ?? '';
      const mine = [...streams.values()].filter((s) => s.client === client).length;
      if (mine >= limits.maxEventStreamsPerClient || streams.size >= limits.maxEventStreams) {
        const which = mine >= limits.maxEventStreamsPerClient ? `${mine} from this client` : `${streams.size} in all`;
        return sendJson(res, 429, { error: { code: 'API_BUSY', message: `too many open event streams (${which}); close one` } });
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      streams.set(res, { client, screen: fromScreen(req, apiPort, (address) => backend.isScreen(address)) });
      req.on('close', () => streams.delete(res));
      send(res, `event: apps\ndata: ${JSON.stringify(backend.apps())}\n\n`);
      return;
    }
    return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no such endpoint: ${path}` } });
  };

  /**
   * `device`: one of the device's own programs (loopback, loopback Host on this port, the kiosk's own Origin, a
   * root-owned socket); `paired`: a browser with a live session whose Origin, if sent, is the page's own; else
   * `visitor` (read-only).
   */
  const roleOf = async (req: IncomingMessage): Promise<'device' | 'paired' | 'visitor'> => {
    // Loopback is not proof enough: an app with network: host connects from 127.0.0.1 too. Only the device's own
    // programs (root; apps never are) count as the device.
    if (mayChangeState(req, apiPort) && (await socketOwner(req.socket.remoteAddress ?? '', req.socket.remotePort ?? 0)) === 0) return 'device';
    // The device's own screen: the display app, from its own address (docs/security.md "The display app").
    if (fromScreen(req, apiPort, (address) => backend.isScreen(address))) return 'device';
    const origin = req.headers.origin;
    if (pairing.session(req.headers.cookie) && (origin === undefined || origin === `http://${req.headers.host}`)) return 'paired';
    return 'visitor';
  };

  const forbiddenReason = (req: IncomingMessage): string => {
    if (isLoopback(req.socket.remoteAddress) && mayChangeState(req, apiPort)) {
      return "state-changing calls from loopback are accepted only from the device's own programs (root)";
    }
    return 'this browser is not paired with the device: enter the code the device shows (GET /api/pairing, POST {"code"})';
  };

  const pairingView = async (req: IncomingMessage) => {
    const role = await roleOf(req);
    if (role === 'device') return { role, ...pairing.current(), sessions: pairing.sessionCount };
    if (role === 'paired') return { role, sessionExpiresAt: pairing.session(req.headers.cookie)!.expiresAt };
    return { role };
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendError(res, err);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  apiPort = typeof address === 'object' && address ? address.port : options.port;
  pairing.current(); // the first code, on the console from the start
  return {
    server,
    port: apiPort,
    screenStreamFrom: (address) => [...streams.values()].some((s) => s.screen && unmapped(s.client) === address),
    close: async () => {
      unsubscribe();
      for (const res of streams.keys()) res.end();
      streams.clear();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    },
  };
}

/** A small JSON body (at most MAX_BODY_BYTES); USAGE when it is larger or not JSON. */
async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BootosError('USAGE', `the request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new BootosError('USAGE', 'the request body is not JSON');
  }
}
