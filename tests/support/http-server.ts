// Small real HTTP servers on port 0 for transport tests, with a log of every request (its Range header and the
// body bytes the server wrote), so a test can assert what travelled.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface RequestLog {
  url: string;
  range: string | undefined;
  bytesSent: number;
}

export interface TestServer {
  url: string;
  server: Server;
  requests: RequestLog[];
  /** Total body bytes written by the handler over all requests. */
  bytesSent(): number;
  close(): Promise<void>;
}

/** The handler gets `send(bytes)` which writes body bytes and counts them. */
export type Handler = (req: IncomingMessage, res: ServerResponse, log: RequestLog, send: (bytes: Buffer) => boolean) => void | Promise<void>;

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: RequestLog[] = [];
  const server = createServer((req, res) => {
    const log: RequestLog = { url: req.url ?? '', range: req.headers.range, bytesSent: 0 };
    requests.push(log);
    const send = (bytes: Buffer) => {
      log.bytesSent += bytes.length;
      return res.write(bytes);
    };
    Promise.resolve(handler(req, res, log, send)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}/`,
    server,
    requests,
    bytesSent: () => requests.reduce((sum, r) => sum + r.bytesSent, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Parses "bytes=N-" (the only form the transport sends); 0 without a Range header. */
export function rangeStart(range: string | undefined): number {
  const m = /^bytes=(\d+)-$/.exec(range ?? '');
  return m ? Number(m[1]) : 0;
}

/** Answers a GET of `bytes` honestly, with Range support (206 + Content-Range). */
export function serveBytes(res: ServerResponse, bytes: Buffer, range: string | undefined, send: (b: Buffer) => boolean): void {
  const start = rangeStart(range);
  if (range) res.writeHead(206, { 'content-length': bytes.length - start, 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` });
  else res.writeHead(200, { 'content-length': bytes.length });
  send(bytes.subarray(start));
  res.end();
}
