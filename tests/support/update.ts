// Helpers of the hot-update tests and bench: versions of the `upd` test app (tests/fixtures/update/server.js) as
// image folders, and a steady, bounded load of requests (a new connection each, on a fixed schedule that does not
// wait for answers) that records who answered each one and when.
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { makeImageDir, REPO } from './registry.js';

export type UpdMode = 'good' | 'broken' | 'crasher';

/** An image folder of app `name` at `version`. */
export async function updImage(
  version: string,
  options: { mode?: UpdMode; handover?: 'signal' | 'exclusive' | 'none'; name?: string; publicPort?: number; slowMigrationMs?: number } = {},
): Promise<string> {
  const server = await readFile(join(REPO, 'tests', 'fixtures', 'update', 'server.js'), 'utf8');
  const yaml = `name: ${options.name ?? 'upd'}
version: ${version}
description: hot-update test app (${options.mode ?? 'good'})
runtime: node
entrypoint: [node, /app/server.js]
env:
  MODE: ${options.mode ?? 'good'}
  SLOW_MIGRATION_MS: "${options.slowMigrationMs ?? 0}"
ports:
  - port: 8080
    public: ${options.publicPort ?? 18390}
health:
  http: /health
  intervalMs: 20
  timeoutMs: 1000
idle:
  after: 0
data: true
handover:
  mode: ${options.handover ?? 'signal'}
  timeout: 2
resources:
  memory: 96Mi
  pids: 32
`;
  return makeImageDir({ 'server.js': server }, yaml);
}

export interface Answer {
  /** ms since the load started (performance.now based). */
  start: number;
  end: number;
  version: string | null;
  error: string | null;
}

export interface Load {
  /** Stops sending, waits for the answers in flight. */
  stop(): Promise<Answer[]>;
  /** Answers so far. */
  readonly answers: Answer[];
  readonly t0: number;
}

function once(port: number, path: string, timeoutMs: number): Promise<{ version: string | null; error: string | null }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', (err) => resolve({ version: null, error: err.message }));
      res.once('end', () => {
        if (res.statusCode !== 200) return resolve({ version: null, error: `HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}` });
        try {
          resolve({ version: String(JSON.parse(Buffer.concat(chunks).toString()).version), error: null });
        } catch {
          resolve({ version: null, error: 'not JSON' });
        }
      });
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (err) => resolve({ version: null, error: err.message }));
    req.end();
  });
}

/** `ratePerSecond` requests a second to 127.0.0.1:port, at most `maxRequests`, until stop(). */
export function steadyLoad(port: number, options: { ratePerSecond?: number; maxRequests?: number; path?: string; timeoutMs?: number } = {}): Load {
  const rate = options.ratePerSecond ?? 200;
  const max = options.maxRequests ?? 4000;
  const answers: Answer[] = [];
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  let sent = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    if (stopped) return;
    // Catch up on the schedule (timers are coarse): every request due by now is sent.
    const due = Math.min(max, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    while (sent < due) {
      sent++;
      const start = performance.now() - t0;
      const p = once(port, options.path ?? '/', options.timeoutMs ?? 10_000).then((r) => {
        answers.push({ start, end: performance.now() - t0, ...r });
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    if (sent >= max) return;
    timer = setTimeout(tick, Math.max(1, Math.floor(1000 / rate)));
  };
  tick();
  return {
    answers,
    t0,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.all([...inFlight]);
      return answers.sort((a, b) => a.start - b.start);
    },
  };
}

/** The answers' story around a switch from `from` to `to`. */
export function switchStory(answers: Answer[], from: string, to: string) {
  const failed = answers.filter((a) => a.error !== null);
  const fromEnds = answers.filter((a) => a.version === from).map((a) => a.end);
  const toEnds = answers.filter((a) => a.version === to).map((a) => a.end);
  const lastOld = fromEnds.length ? Math.max(...fromEnds) : null;
  const firstNew = toEnds.length ? Math.min(...toEnds) : null;
  // Requests sent once the new version had answered someone must all be answered by it.
  const afterSwitch = firstNew === null ? [] : answers.filter((a) => a.start > firstNew);
  const strays = afterSwitch.filter((a) => a.version !== to);
  return { failed, lastOld, firstNew, afterSwitch, strays, versions: [...new Set(answers.map((a) => a.version))] };
}
