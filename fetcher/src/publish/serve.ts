// `bootos serve`: the registry directory over HTTP, as any static web server would serve it.
// GET and HEAD; single byte ranges; ETag / If-None-Match; nothing outside the directory; no listings;
// a bounded number of concurrent connections; one log line per request.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { sep, resolve } from 'node:path';
import { errnoCode } from '../core/error.js';
import { withLimits, type Limits } from '../core/limits.js';
import { safeRelative } from '../core/static-files.js';

export interface ServeOptions {
  dir: string;
  host?: string;
  port?: number;
  /** serveMaxConnections and serveKeepAliveTimeoutMs are read from here. */
  limits?: Partial<Limits>;
  log?: (line: string) => void;
}

const SMALL_FILE = 1024 * 1024;

function contentType(path: string): string {
  if (path.startsWith('blobs/')) return 'application/octet-stream';
  if (path.endsWith('.json') || path === 'oci-layout') return 'application/json';
  if (path.endsWith('.ipxe')) return 'text/plain';
  return 'application/octet-stream';
}


export async function startServer(options: ServeOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const root = await realpath(options.dir);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const etags = new Map<string, { key: string; etag: string }>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return 405;
    }
    const rel = safeRelative(new URL(req.url ?? '/', 'http://x').pathname);
    if (!rel) {
      res.writeHead(404).end();
      return 404;
    }
    let file: string;
    let st;
    try {
      // Symlinks are followed only if they stay inside the registry directory.
      file = await realpath(resolve(root, rel));
      if (!file.startsWith(root + sep)) {
        res.writeHead(404).end();
        return 404;
      }
      st = await stat(file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        res.writeHead(404).end();
        return 404;
      }
      throw err;
    }
    if (!st.isFile()) {
      // No directory listings.
      res.writeHead(404).end();
      return 404;
    }
    const etag = await etagOf(rel, file, st.size, st.mtimeMs, etags);
    const headers: Record<string, string | number> = {
      'content-type': contentType(rel),
      'accept-ranges': 'bytes',
      etag,
      'cache-control': rel.startsWith('blobs/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'last-modified': new Date(st.mtimeMs).toUTCString(),
    };
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
      res.writeHead(304, headers).end();
      return 304;
    }
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const range = req.headers.range;
    const ifRange = req.headers['if-range'];
    if (range && (!ifRange || ifRange === etag)) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          start = Number(m[1]);
          end = m[2] ? Math.min(Number(m[2]), st.size - 1) : st.size - 1;
        } else {
          start = Math.max(0, st.size - Number(m[2]));
        }
        if (start > end || start >= st.size) {
          res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
          return 416;
        }
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
      }
    }
    headers['content-length'] = end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || st.size === 0) {
      res.end();
      return status;
    }
    await new Promise<void>((done) => {
      const stream = createReadStream(file, { start, end });
      stream.on('error', () => {
        res.destroy();
        done();
      });
      res.on('close', () => {
        stream.destroy();
        done();
      });
      stream.pipe(res);
    });
    return status;
  };

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    handle(req, res)
      .catch((err) => {
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
        log(`error ${req.method} ${req.url}: ${(err as Error).message}`);
        return 500;
      })
      .then((status) => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log(`${req.socket.remoteAddress ?? '-'} ${req.method} ${req.url} ${status} ${req.headers.range ?? ''} ${ms.toFixed(1)}ms`.replace(/  +/g, ' '));
      });
  });
  const limits = withLimits(options.limits);
  server.maxConnections = limits.serveMaxConnections;
  server.keepAliveTimeout = limits.serveKeepAliveTimeoutMs;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolveListen());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}/`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/** Blobs are named by their digest; other (small) files by a hash of their content, cached by size and mtime. */
async function etagOf(rel: string, file: string, size: number, mtimeMs: number, cache: Map<string, { key: string; etag: string }>): Promise<string> {
  const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(rel);
  if (m) return `"sha256:${m[1]}"`;
  const key = `${size}:${mtimeMs}`;
  const hit = cache.get(file);
  if (hit && hit.key === key) return hit.etag;
  let etag = `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
  if (size <= SMALL_FILE) {
    const fh = await open(file, 'r');
    try {
      etag = `"${createHash('sha256').update(await fh.readFile()).digest('hex').slice(0, 32)}"`;
    } finally {
      await fh.close();
    }
  }
  cache.set(file, { key, etag });
  return etag;
}
