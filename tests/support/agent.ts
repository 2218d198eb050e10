// A real agent against a real registry server: fresh keys, images published from folders, `bootos serve`'s server
// on port 0, runc for the apps. teardown() stops the agent and then checks (and cleans) that no container, network
// namespace, veth or bundle is left behind.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer } from '../../fetcher/src/publish/serve.js';
import type { Profiles } from '../../fetcher/src/formats/profiles.js';
import { Agent } from '../../bootos/src/agent/agent.js';
import { configFromJson, type AgentLimits } from '../../bootos/src/agent/config.js';
import { SLOTS_DIR, slotNames } from '../../bootos/src/agent/runtime/network.js';
import { Runc } from '../../bootos/src/agent/runtime/runc.js';
import { scaledTimeout } from '../../qemu/src/qemu.js';
import { makeRegistry, REPO, tempDir, type TestRegistry } from './registry.js';

const execFileP = promisify(execFile);

export const FIXTURES = join(REPO, 'tests', 'fixtures', 'agent');

export interface AgentEnv {
  registry: TestRegistry;
  registryUrl: string;
  base: string;
  agent: Agent;
  /** GET on an app's public port. */
  get(app: string, path?: string): Promise<Response>;
  api(path: string, init?: RequestInit): Promise<Response>;
  teardown(): Promise<{ leftovers: string[] }>;
}

export async function agentEnv(options: {
  images: string[];
  profiles?: Profiles;
  limits?: Partial<AgentLimits>;
  /** Runs before the agent starts: publish hand-made images, re-sign. */
  setup?: (registry: TestRegistry) => Promise<void>;
  /** Serves the registry directory (default: `bootos serve`'s server), e.g. a misbehaving one. */
  serve?: (dir: string) => Promise<{ url: string; close(): Promise<void> }>;
  /** The agent's log lines (default: dropped). */
  log?: (line: string) => void;
  /** Where the API and the app ports listen (default 127.0.0.1). */
  host?: string;
  /** The kiosk's files (default: an empty folder). */
  kioskDir?: string;
  /** Runs in the agent's base folder before it starts (e.g. to mount something at var/state). */
  beforeStart?: (base: string) => Promise<void>;
  /** More agent.json fields (paths relative to the base folder), e.g. bootSlot and espDir. */
  config?: Record<string, unknown>;
}): Promise<AgentEnv> {
  const registry = await makeRegistry({ images: options.images.map((i) => (i.includes('/') ? i : join(FIXTURES, i))), profiles: options.profiles });
  await options.setup?.(registry);
  const server = await (options.serve ?? ((dir) => startServer({ dir, log: () => {} })))(registry.dir);
  const base = await tempDir('bootos-agent-');
  await writeFile(join(base, 'root.json'), registry.rootBytes);
  await mkdir(join(base, 'kiosk'));
  const config = configFromJson(
    {
      registry: server.url,
      root: 'root.json',
      dataRoot: 'var',
      runDir: 'run',
      kioskDir: options.kioskDir ?? 'kiosk',
      apiHost: options.host ?? '127.0.0.1',
      apiPort: 0,
      appHost: options.host ?? '127.0.0.1',
      limits: { stopGraceMs: 2000, ...options.limits },
      ...options.config,
    },
    'test config',
    base,
  );
  await options.beforeStart?.(base);
  const agent = await Agent.start(config, options.log ?? (() => {}));
  await agent.settled();
  const portOf = (app: string) => {
    const port = agent.apps.get(app)?.publicPorts.values().next().value;
    if (!port) throw new Error(`app ${app} has no port`);
    return port;
  };
  return {
    registry,
    registryUrl: server.url,
    base,
    agent,
    get: (app, path = '/') => fetch(`http://127.0.0.1:${portOf(app)}${path}`, { headers: { connection: 'close' } }),
    api: (path, init) => fetch(`http://127.0.0.1:${agent.api.port}${path}`, init),
    async teardown() {
      await agent.stop();
      const leftovers = await leftoversOf(agent);
      await server.close();
      await registry.cleanup();
      await rm(base, { recursive: true, force: true });
      return { leftovers };
    },
  };
}

/** Anything the agent should have removed: containers in its runc root, bundles, its network slots. Cleans them. */
export async function leftoversOf(agent: Agent): Promise<string[]> {
  const found: string[] = [];
  const runc = new Runc(agent.config.runc, join(agent.config.runDir, 'runc'));
  for (const c of await runc.list()) {
    found.push(`container ${c.id}`);
    await runc.delete(c.id).catch(() => {});
  }
  // The apps' /data volumes are unmounted at agent stop.
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const point = line.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (!point?.startsWith(`${agent.config.dataRoot}/`)) continue;
    found.push(`mount ${point}`);
    await execFileP('umount', ['-l', point]).catch(() => {});
  }
  const bundles = await readdir(join(agent.config.runDir, 'bundles')).catch(() => []);
  for (const b of bundles) found.push(`bundle ${b}`);
  for (const slot of await readdir(SLOTS_DIR).catch(() => [])) {
    const owner = await readFile(join(SLOTS_DIR, slot, 'owner'), 'utf8').catch(() => '');
    if (!owner.startsWith(agent.agentId)) continue;
    found.push(`network slot ${slot}`);
    const { netns, hostIf } = slotNames(Number(slot));
    await execFileP('ip', ['netns', 'del', netns]).catch(() => {});
    await execFileP('ip', ['link', 'del', hostIf]).catch(() => {});
    await rm(join(SLOTS_DIR, slot), { recursive: true, force: true });
  }
  return found;
}

export async function json(response: Response): Promise<any> {
  return response.json();
}

/** Polls until check() returns a truthy value (bounded; the bound scales with BOOTOS_TIMEOUT_FACTOR). */
export async function until<T>(check: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  timeoutMs = scaledTimeout(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
