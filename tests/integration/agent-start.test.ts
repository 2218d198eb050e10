// How the device agent starts: it waits for the data root while /init still mounts it (<runDir>/data-pending)
// without holding back its API; a data root that never comes is DATA_ROOT_TIMEOUT, one that cannot be used is
// DATA_ROOT_INVALID; a fresh runc state root is listed without spawning runc; and the device bundle (dist/agent.mjs)
// with debug on prints its start-up timing.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { dataRootReady } from '../../bootos/src/agent/data-root.js';
import { Runc } from '../../bootos/src/agent/runtime/runc.js';
import { until } from '../support/agent.js';
import { makeRegistry, REPO, tempDir } from '../support/registry.js';

test('dataRootReady waits while data-pending exists and returns when it is removed', async (t) => {
  const runDir = await tempDir('bootos-run-');
  try {
    t.is(await dataRootReady(runDir, 5_000), 0, 'no marker: at once');
    await writeFile(join(runDir, 'data-pending'), '');
    let removed = false;
    const timer = setTimeout(() => {
      removed = true;
      void rm(join(runDir, 'data-pending'));
    }, 200);
    const waited = await dataRootReady(runDir, 10_000);
    clearTimeout(timer);
    t.true(removed, 'it returned only after the marker was removed');
    t.true(waited > 0);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});

test('dataRootReady: DATA_ROOT_TIMEOUT when the marker stays, ABORTED when stopped', async (t) => {
  const runDir = await tempDir('bootos-run-');
  try {
    await writeFile(join(runDir, 'data-pending'), '');
    const late = await t.throwsAsync(dataRootReady(runDir, 150));
    t.true(isBootosError(late, 'DATA_ROOT_TIMEOUT'), String(late));
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const aborted = await t.throwsAsync(dataRootReady(runDir, 60_000, stop.signal));
    t.true(isBootosError(aborted, 'ABORTED'), String(aborted));
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});

test('Runc.list: a missing or empty state root lists nothing without running runc', async (t) => {
  const dir = await tempDir('bootos-runc-');
  try {
    // A runc that cannot run: only a list that does not spawn it can succeed.
    const runc = new Runc(join(dir, 'no-such-runc'), join(dir, 'root'));
    t.deepEqual(await runc.list(), [], 'missing root');
    await mkdir(join(dir, 'root'));
    t.deepEqual(await runc.list(), [], 'empty root');
    await mkdir(join(dir, 'root', 'some-container'));
    const err = await t.throwsAsync(runc.list());
    t.true(isBootosError(err, 'RUNTIME_ERROR'), 'a root with a container asks runc');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function agentConfig(base: string, extra: Record<string, unknown> = {}): Promise<string> {
  const registry = await makeRegistry();
  await writeFile(join(base, 'root.json'), registry.rootBytes);
  await registry.cleanup();
  const file = join(base, 'agent.json');
  const config = { registry: 'http://127.0.0.1:9/', root: 'root.json', dataRoot: 'var', runDir: 'run', apiHost: '127.0.0.1', apiPort: 0, appHost: '127.0.0.1', ...extra };
  await writeFile(file, JSON.stringify(config));
  return file;
}

function startBundle(config: string) {
  const child = spawn(process.execPath, [join(REPO, 'dist', 'agent.mjs'), '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  return { child, out };
}

test('dist/agent.mjs: ready and answering while the data root is pending, then opens it; debug prints timing', async (t) => {
  const base = await tempDir('bootos-agent-start-');
  await mkdir(join(base, 'run'), { recursive: true });
  await writeFile(join(base, 'run', 'data-pending'), '');
  const { child, out } = startBundle(await agentConfig(base, { debug: true, limits: { channelRetryMinMs: 60_000, channelRetryMaxMs: 60_000 } }));
  try {
    const api = (await until(() => /bootos-agent: ready api=(\S+)/.exec(out.stdout), 20_000))![1]!;
    t.is((await (await fetch(`${api}api/health`)).json()).ok, true);
    const apps = await (await fetch(`${api}api/apps`)).json();
    t.is(apps.channel.version, null, 'no channel yet: the data root (and trust state in it) is not open');
    t.notRegex(out.stderr, /t\+\d+ms store opened/);
    await rm(join(base, 'run', 'data-pending'));
    await until(() => /t\+\d+ms store opened/.test(out.stderr), 20_000);
    // The channel is tried once the trust state is open: nobody listens on the registry port.
    await until(async () => (await (await fetch(`${api}api/apps`)).json()).channel.error?.code === 'NETWORK', 20_000);
    for (const label of ['node nodeStart', 'node v8Start', 'node environment', 'node bootstrapComplete', 'bundle loaded', 'config read', 'listening', 'ready', 'data root ready', 'store opened']) {
      t.regex(out.stderr, new RegExp(`^bootos: t\\+\\d+ms ${label}`, 'm'), label);
    }
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    t.is(code, 0, out.stderr);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
  }
});

test('dist/agent.mjs: a data root that never comes ends the agent with DATA_ROOT_TIMEOUT (exit 1)', async (t) => {
  const base = await tempDir('bootos-agent-start-');
  await mkdir(join(base, 'run'), { recursive: true });
  await writeFile(join(base, 'run', 'data-pending'), '');
  const { child, out } = startBundle(await agentConfig(base, { limits: { dataRootWaitMs: 300 } }));
  try {
    const [code] = await once(child, 'exit');
    t.is(code, 1);
    t.regex(out.stdout, /bootos-agent: ready/, 'the API was up before');
    t.regex(out.stderr, /error DATA_ROOT_TIMEOUT/);
    t.notRegex(out.stderr, /t\+\d+ms/, 'no timing lines without debug');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
  }
});

test('dist/agent.mjs: a data root that cannot be used (a file, not a directory) ends the agent with DATA_ROOT_INVALID (exit 1)', async (t) => {
  const base = await tempDir('bootos-agent-start-');
  await writeFile(join(base, 'var'), 'not a directory');
  const { child, out } = startBundle(await agentConfig(base));
  try {
    const [code] = await once(child, 'exit');
    t.is(code, 1);
    t.regex(out.stdout, /bootos-agent: ready/, 'the API was up before');
    t.regex(out.stderr, /error DATA_ROOT_INVALID: cannot open the data root/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
  }
});
