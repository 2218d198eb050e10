// Runs the office cache (real nginx with the configuration `bootos cache config` prints) for tests and benchmarks:
// its own prefix, cache and temp dirs, on a free port of the given address.
import { chown, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officeCacheConfig, OFFICE_CACHE_DIRS } from '../../fetcher/src/publish/office-cache.js';
import { startDaemon } from './daemon.js';

export interface OfficeCache {
  /** "ADDRESS:PORT" */
  host: string;
  url(namespace: string): string;
  /** nginx's prefix: the cache's files, temp files and logs (removed by stop). */
  dir: string;
  /** nginx access log lines: `ADDR [time] "GET /v2/… HTTP/1.1" STATUS BYTES cache=HIT|MISS|REVALIDATED|…` */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function freePort(address = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, address, done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

async function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const socket = connect(port, address, () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startOfficeCache(upstream: string, options: { address?: string; workers?: number } = {}): Promise<OfficeCache> {
  const address = options.address ?? '127.0.0.1';
  const prefix = await mkdtemp(join(tmpdir(), 'bootos-office-cache-'));
  // nginx workers run as nobody: they write the cache and temp files, so those are theirs.
  await chmod(prefix, 0o755);
  for (const dir of OFFICE_CACHE_DIRS) {
    await mkdir(join(prefix, dir));
    if (dir !== 'logs') await chown(join(prefix, dir), 65534, 65534);
  }
  const port = await freePort(address);
  const config = officeCacheConfig({ listen: `${address}:${port}`, upstream, prefix, foreground: true, workers: options.workers ?? 1, maxSize: '4g' });
  await writeFile(join(prefix, 'nginx.conf'), config);
  const daemon = await startDaemon('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs', 'error.log')], { ready: () => true });
  try {
    await waitForPort(address, port, 10_000);
  } catch (err) {
    await daemon.stop();
    throw new Error(`${(err as Error).message}\n${daemon.output()}\n${await readFile(join(prefix, 'logs', 'error.log'), 'utf8').catch(() => '')}`);
  }
  const host = `${address}:${port}`;
  return {
    host,
    url: (namespace) => `oci+http://${host}/${namespace}`,
    dir: prefix,
    accessLog: async () => (await readFile(join(prefix, 'logs', 'access.log'), 'utf8')).split('\n').filter(Boolean),
    async stop() {
      await daemon.stop();
      await rm(prefix, { recursive: true, force: true });
    },
  };
}
