// The device agent as the device runs it: the device bundle (dist/agent.mjs, its chunks) in its own process,
// serving the kiosk from dist/kiosk/ beside it, against a registry served over HTTP on port 0. The registry server
// can trickle chosen blobs so that a download lasts long enough to be seen.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { safeRelative } from '../../fetcher/src/core/static-files.js';
import { REPO, tempDir } from './registry.js';

const execFileP = promisify(execFile);
export const BUNDLE = join(REPO, 'dist', 'agent.mjs');
export const KIOSK_DIR = join(REPO, 'dist', 'kiosk');

export interface SlowRegistry {
  url: string;
  /** Blob digests (sha256:…) served slowly, in `chunks` pieces over `durationMs`. */
  slow: Map<string, { durationMs: number; chunks: number }>;
  close(): Promise<void>;
}

/** A static registry server on 127.0.0.1:0 that serves `dir`, trickling the blobs named in `slow`. */
export async function serveRegistry(dir: string): Promise<SlowRegistry> {
  const slow = new Map<string, { durationMs: number; chunks: number }>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer(async (req, res) => {
    const rel = safeRelative(new URL(req.url ?? '/', 'http://registry').pathname);
    let body: Buffer;
    try {
      if (!rel) throw new Error('refused');
      body = await readFile(join(dir, rel));
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
    const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(rel);
    const pace = m ? slow.get(`sha256:${m[1]}`) : undefined;
    if (!pace) return void res.end(body);
    const size = Math.ceil(body.length / pace.chunks);
    let sent = 0;
    const next = () => {
      if (res.destroyed) return;
      const piece = body.subarray(sent, sent + size);
      sent += piece.length;
      if (sent >= body.length) return void res.end(piece);
      res.write(piece);
      const timer = setTimeout(() => {
        timers.delete(timer);
        next();
      }, pace.durationMs / pace.chunks);
      timers.add(timer);
    };
    next();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    slow,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

export interface AgentProcess {
  /** The kiosk and the API: http://127.0.0.1:<port>/ */
  url: string;
  base: string;
  process: ChildProcess;
  /** Agent stderr so far (progress and app events), for failure messages. */
  log(): string;
  api(path: string): Promise<any>;
  /** SIGTERM (the agent stops its apps), SIGKILL after `graceMs`; then removes the work folder (unless it is the
   * caller's `base`). Returns leftovers. */
  stop(graceMs?: number): Promise<string[]>;
}

/**
 * Starts `bootos agent --config` with the given registry and trusted root; resolves once it printed "ready".
 * `base`: a work folder of the caller's, kept on stop (its store and data survive for the next agent); by default a
 * fresh temp folder, removed on stop.
 */
export async function startAgent(options: { registry: string; rootBytes: Buffer; limits?: Record<string, number>; base?: string }): Promise<AgentProcess> {
  for (const file of [BUNDLE, join(KIOSK_DIR, 'index.html')]) {
    await access(file).catch(() => {
      throw new Error(`${file} is missing: run \`npm run build\` first (npm test does)`);
    });
  }
  const base = options.base ?? (await tempDir('bootos-kiosk-agent-'));
  await writeFile(join(base, 'root.json'), options.rootBytes);
  await writeFile(
    join(base, 'agent.json'),
    JSON.stringify({
      registry: options.registry,
      root: 'root.json',
      dataRoot: 'var',
      runDir: 'run',
      apiHost: '127.0.0.1',
      apiPort: 0,
      appHost: '127.0.0.1',
      // kioskDir is left out on purpose: the agent finds dist/kiosk/ beside its bundle, as on the device.
      limits: { stopGraceMs: 2000, ...options.limits },
    }),
  );
  const child = spawn(process.execPath, [BUNDLE, '--config', join(base, 'agent.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-20_000);
  });
  const exited = once(child, 'exit');
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the agent did not print ready within 30 s:\n${stderr}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('bootos-agent: ready')) return;
      clearTimeout(timer);
      resolve(line);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the agent exited before it was ready:\n${stderr}`));
    });
  });
  const url = /api=(\S+)/.exec(ready)![1]!;
  return {
    url,
    base,
    process: child,
    log: () => stderr,
    async api(path) {
      const res = await fetch(new URL(path, url));
      return res.json();
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // Whatever the agent left in its runc root (nothing, when it stopped its apps as it should), removed here.
      const runcRoot = join(base, 'run', 'runc');
      const { stdout } = await execFileP('runc', ['--root', runcRoot, 'list', '-q']).catch(() => ({ stdout: '' }));
      const leftovers = stdout.split('\n').filter(Boolean);
      for (const id of leftovers) await execFileP('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => {});
      if (!options.base) await rm(base, { recursive: true, force: true });
      return leftovers;
    },
  };
}
