// `bootos agent` as a process (the built bundle, as the OS runs it): the ready line, an unreachable registry that
// does not stop the agent (it retries and says why, then recovers), SIGTERM stopping every app cleanly; and the
// configuration's strict checks (kernel command line and JSON file), matched on codes.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { startServer } from '../../fetcher/src/publish/serve.js';
import { configFromCmdline, configFromJson } from '../../bootos/src/agent/config.js';
import { Runc } from '../../bootos/src/agent/runtime/runc.js';
import { FIXTURES, until } from '../support/agent.js';
import { makeRegistry, REPO, tempDir } from '../support/registry.js';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  return port;
}

test('bootos agent: ready line, retries an unreachable registry, serves, SIGTERM stops apps', async (t) => {
  const registry = await makeRegistry({ images: [join(FIXTURES, 'probe')] });
  const base = await tempDir('bootos-agent-cmd-');
  const registryPort = await freePort();
  await writeFile(join(base, 'root.json'), registry.rootBytes);
  await writeFile(
    join(base, 'agent.json'),
    JSON.stringify({
      registry: `http://127.0.0.1:${registryPort}/`,
      root: 'root.json',
      dataRoot: 'var',
      runDir: 'run',
      apiHost: '127.0.0.1',
      apiPort: 0,
      appHost: '127.0.0.1',
      limits: { channelRetryMinMs: 200, channelRetryMaxMs: 400 },
    }),
  );
  const child = spawn(process.execPath, [join(REPO, 'bin', 'bootos.mjs'), 'agent', '--config', join(base, 'agent.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    const line = await until(() => /bootos-agent: ready api=(\S+)/.exec(stdout), 20_000);
    const api = line![1]!;
    t.is((await (await fetch(`${api}api/health`)).json()).ok, true);
    // Nobody listens on the registry port: the agent keeps running and says why.
    const down = await until(async () => {
      const apps = await (await fetch(`${api}api/apps`)).json();
      return apps.channel.error ? apps : null;
    });
    t.is(down.channel.state, 'retrying');
    t.is(down.channel.error.code, 'NETWORK');
    t.true(down.channel.retryInMs > 0);
    // The registry comes up: the next retry verifies the channel and the app appears.
    server = await startServer({ dir: registry.dir, port: registryPort, log: () => {} });
    const up = await until(async () => {
      const apps = await (await fetch(`${api}api/apps`)).json();
      return apps.channel.state === 'ok' && apps.apps.length === 1 ? apps : null;
    });
    const answer = await (await fetch(`http://127.0.0.1:${up.apps[0].port}/`)).json();
    t.is(answer.hostname, 'probe');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    t.is(code, 0, stderr);
    t.regex(stderr, /probe: stopped/);
    const runc = new Runc('runc', join(base, 'run', 'runc'));
    t.deepEqual(await runc.list(), [], 'no container left');
    t.deepEqual(await readdir(join(base, 'run', 'bundles')).catch(() => []), []);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await server?.close();
    await registry.cleanup();
    await rm(base, { recursive: true, force: true });
  }
});

test('bootos agent --help and usage errors', async (t) => {
  const run = async (args: string[]) => {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'bootos.mjs'), 'agent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const [code] = await once(child, 'exit');
    return { code, out };
  };
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /--cmdline/);
  t.is((await run([])).code, 2);
  const missing = await run(['--config', '/nonexistent/agent.json']);
  t.is(missing.code, 1);
  t.regex(missing.out, /FILE_NOT_FOUND/);
});

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return isBootosError(err) ? err.code : String(err);
  }
  return 'no error';
};

test('kernel command line: keys, defaults, strict checks', (t) => {
  const c = configFromCmdline('BOOT_IMAGE=/vmlinuz console=ttyS0 bootos.registry=http://10.0.2.2:8080/ bootos.profile=lab bootos.api_port=9090 bootos.debug=1 quiet');
  t.is(c.registry, 'http://10.0.2.2:8080/');
  t.is(c.channel, 'stable');
  t.is(c.profile, 'lab');
  t.is(c.apiPort, 9090);
  t.true(c.debug);
  t.is(c.rootFile, '/etc/bootos/root.json');
  t.is(c.stateDir, '/var/lib/bootos/state');
  t.is(c.storeDir, '/var/lib/bootos/store');
  t.is(c.dataRoot, '/var/lib/bootos/data');
  t.is(configFromCmdline('bootos.registry=http://x/ bootos.data_wait=10').registry, 'http://x/', "/init's own keys are left to it");
  t.like(configFromCmdline('bootos.registry=http://x/ bootos.poll_seconds=20').limits, { channelPollIntervalMs: 20_000, channelPollJitterMs: 2_000 });
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.poll_seconds=soon')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('console=ttyS0')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('bootos.registry=ftp://x/')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.api_port=99999')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.chanel=beta')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.channel=Bad!')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.registry=http://y/')), 'CONFIG_INVALID');
});

test('JSON config: paths relative to the file, unknown fields and bad limits refused', (t) => {
  const c = configFromJson({ registry: 'reg', dataRoot: 'var', apiPort: 0, limits: { stopGraceMs: 100 } }, 'a.json', '/etc/x');
  t.is(c.registry, '/etc/x/reg');
  t.is(c.storeDir, '/etc/x/var/store');
  t.is(c.limits.stopGraceMs, 100);
  t.is(code(() => configFromJson({ registry: 'http://x/', colour: 'red' }, 'a.json', '/')), 'CONFIG_INVALID');
  t.is(code(() => configFromJson({ registry: 'http://x/', limits: { nope: 1 } }, 'a.json', '/')), 'CONFIG_INVALID');
  t.is(code(() => configFromJson({ registry: 'http://x/', limits: { readyPollMs: 0 } }, 'a.json', '/')), 'CONFIG_INVALID');
  t.is(code(() => configFromJson({ registry: 'oci://x/' }, 'a.json', '/')), 'CONFIG_INVALID');
  t.is(code(() => configFromJson({}, 'a.json', '/')), 'CONFIG_INVALID');
});
