// npm run bench:wake — how long the first response takes when an app must wake up, against the baseline of a
// request to the same app already running, measured in this script (real agent, real runc, real registry server).
//   running:  the app runs; a new connection and one GET (the baseline)
//   thaw:     the app is frozen (runc pause); the request thaws it          target: adds ≤ 20 ms
//   cached:   the app is stopped, its image in the store; the request starts it   target: adds ≤ 150 ms
//   pull:     nothing cached (fresh store); the request pulls and starts it  (no target; reported)
// Run as root. Prints a table; docs/performance.md (## Wake) keeps the figures.
import { request } from 'node:http';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer } from '../fetcher/src/publish/serve.js';
import { Agent } from '../bootos/src/agent/agent.js';
import { configFromJson } from '../bootos/src/agent/config.js';
import { IMAGES, makeRegistry, tempDir } from '../tests/support/registry.js';

const ROUNDS = Number(process.env.WAKE_ROUNDS ?? 15);

function get(port: number): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.once('error', reject);
    req.end();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;

const registry = await makeRegistry({ images: [join(IMAGES, 'hello')], profiles: { office: [{ image: 'hello', idle: { afterSeconds: 0, action: 'stop' } }] } });
const server = await startServer({ dir: registry.dir, log: () => {} });
const base = await tempDir('bootos-bench-wake-');
await writeFile(join(base, 'root.json'), registry.rootBytes);

async function agentWithStore(store: string): Promise<Agent> {
  const config = configFromJson(
    { registry: server.url, root: 'root.json', dataRoot: 'var', storeDir: store, runDir: 'run', apiHost: '127.0.0.1', apiPort: 0, appHost: '127.0.0.1' },
    'bench config',
    base,
  );
  const agent = await Agent.start(config, () => {});
  await agent.settled();
  return agent;
}

const results: Record<string, number[]> = { running: [], thaw: [], cached: [], pull: [] };
try {
  // Nothing cached: a fresh store per round (fewer rounds: each one downloads).
  for (let i = 0; i < Math.min(ROUNDS, 5); i++) {
    const agent = await agentWithStore(join(base, `store-${i}`));
    const port = agent.apps.get('hello')!.publicPorts.get('http')!;
    results.pull!.push(await get(port));
    await agent.stop();
  }
  const agent = await agentWithStore(join(base, 'store'));
  const app = agent.apps.get('hello')!;
  const port = app.publicPorts.get('http')!;
  await get(port); // pull once
  for (let i = 0; i < 5; i++) await get(port); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    results.running!.push(await get(port));
    while (app.connections > 0) await new Promise((r) => setTimeout(r, 1));
    await app.freeze();
    results.thaw!.push(await get(port));
    await app.stop();
    results.cached!.push(await get(port));
  }
  await agent.stop();
} finally {
  await server.close();
  await registry.cleanup();
  await rm(base, { recursive: true, force: true });
}

const baseline = median(results.running!);
const targets: Record<string, number | null> = { running: null, thaw: 20, cached: 150, pull: null };
const rows = Object.entries(results).map(([name, xs]) => {
  const added = median(xs) - baseline;
  const target = targets[name];
  return {
    scenario: name,
    rounds: xs.length,
    'median ms': median(xs).toFixed(1),
    'p90 ms': p90(xs).toFixed(1),
    'adds ms (median)': name === 'running' ? '—' : added.toFixed(1),
    target: target === null || target === undefined ? '—' : `≤ ${target}`,
    ok: target === null || target === undefined ? '—' : added <= target ? 'yes' : 'NO',
  };
});
console.log(`wake: hello (node runtime, HTTP health check), ${ROUNDS} rounds, new connection per request`);
console.table(rows);
