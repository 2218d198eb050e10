// Units of the agent that need no runc: the memory-pressure order (frozen apps, longest idle first), MemAvailable
// parsing, the generated OCI config (isolation settings present), and who may change state through the API.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readImageConfig } from '../../fetcher/src/formats/image-config.js';
import { loadImageSpec } from '../../fetcher/src/formats/image-spec.js';
import { hostAllowed, mayChangeState } from '../../bootos/src/agent/api/api.js';
import { MemoryPressureWatch, memAvailableBytes, pressureVictims } from '../../bootos/src/agent/app/idle.js';
import { containerSpec, sharesFromWeight } from '../../bootos/src/agent/runtime/runc.js';
import { FIXTURES } from '../support/agent.js';
import { tempDir } from '../support/registry.js';

test('memory pressure stops frozen apps, longest idle first, one per check', async (t) => {
  const apps = [
    { name: 'a', state: 'frozen', lastActiveAt: 300 },
    { name: 'b', state: 'running', lastActiveAt: 100 },
    { name: 'c', state: 'frozen', lastActiveAt: 200 },
  ];
  t.deepEqual(pressureVictims(apps).map((a) => a.name), ['c', 'a']);
  let available = 10;
  const stopped: string[] = [];
  const watch = new MemoryPressureWatch({
    intervalMs: 1000,
    lowBytes: 50,
    available: async () => available,
    candidates: () => apps,
    stop: async (name) => {
      stopped.push(name);
      apps.find((a) => a.name === name)!.state = 'stopped';
    },
    log: () => {},
  });
  t.is(await watch.check(), 'c');
  t.is(await watch.check(), 'a');
  t.is(await watch.check(), null, 'no frozen app left: running apps are not stopped for memory');
  available = 100;
  apps[0]!.state = 'frozen';
  t.is(await watch.check(), null, 'no pressure, nothing stopped');
  t.deepEqual(stopped, ['c', 'a']);
});

test('MemAvailable from /proc/meminfo', async (t) => {
  const dir = await tempDir();
  await writeFile(join(dir, 'meminfo'), 'MemTotal:       1000 kB\nMemFree:         10 kB\nMemAvailable:     512 kB\n');
  t.is(await memAvailableBytes(join(dir, 'meminfo')), 512 * 1024);
  t.true((await memAvailableBytes()) > 0);
});

test('the OCI config: namespaces, read-only root, no capabilities, limits, seccomp, non-root', async (t) => {
  const { config } = await loadImageSpec(join(FIXTURES, 'probe'));
  const spec = containerSpec({
    config: readImageConfig(JSON.parse(JSON.stringify(config))),
    rootfs: '/store/rootfs/x',
    hostname: 'probe',
    dataDir: '/var/lib/bootos/data/probe',
    netnsPath: '/run/netns/bootos-1',
    runtimeBinds: [{ source: '/usr/bin/node', target: '/usr/bin/node' }],
    cgroupsPath: 'bootos/a-probe-1',
    arch: 'x86_64',
    tmpBytes: 1024,
    maxOpenFiles: 64,
    extraEnv: ['BOOTOS_APP=probe'],
  }) as any;
  t.deepEqual(spec.linux.namespaces.map((n: { type: string }) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
  t.is(spec.linux.namespaces.find((n: { type: string }) => n.type === 'network').path, '/run/netns/bootos-1');
  t.true(spec.root.readonly);
  t.true(spec.process.noNewPrivileges);
  for (const set of Object.values(spec.process.capabilities)) t.deepEqual(set, []);
  t.is(spec.process.user.uid, 1000);
  t.is(spec.linux.resources.memory.limit, 96 * 1024 * 1024);
  t.is(spec.linux.resources.pids.limit, 32);
  t.is(spec.linux.resources.cpu.shares, sharesFromWeight(100));
  t.is(spec.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
  const tmp = spec.mounts.find((m: { destination: string }) => m.destination === '/tmp');
  t.is(tmp.type, 'tmpfs');
  const data = spec.mounts.find((m: { destination: string }) => m.destination === '/data');
  t.is(data.source, '/var/lib/bootos/data/probe');
  const node = spec.mounts.find((m: { destination: string }) => m.destination === '/usr/bin/node');
  t.true(node.options.includes('ro'));
  t.is(sharesFromWeight(1), 2);
  t.is(sharesFromWeight(10000), 262144);
});

test('who may change state: loopback peer, loopback Host on the API port, kiosk origin only', (t) => {
  const req = (remoteAddress: string, headers: Record<string, string>) => ({ socket: { remoteAddress }, headers });
  t.true(mayChangeState(req('127.0.0.1', { host: '127.0.0.1:8080' }), 8080));
  t.true(mayChangeState(req('::ffff:127.0.0.1', { host: 'localhost:8080', origin: 'http://localhost:8080' }), 8080));
  t.false(mayChangeState(req('10.0.2.2', { host: '10.0.2.15:8080' }), 8080), 'not loopback');
  t.false(mayChangeState(req('127.0.0.1', { host: 'localhost:8080', origin: 'http://localhost:8081' }), 8080), 'an app page');
  t.false(mayChangeState(req('127.0.0.1', { host: 'evil.example:8080', origin: 'http://evil.example:8080' }), 8080), 'rebinding');
  t.false(mayChangeState(req('127.0.0.1', { host: 'localhost:9999' }), 8080), 'another port');
  t.false(mayChangeState(req('127.0.0.1', {}), 8080));
  t.true(hostAllowed('10.0.2.15:8080'));
  t.true(hostAllowed('[::1]:8080'));
  t.false(hostAllowed('bootos.example:8080'));
  t.false(hostAllowed(undefined));
});
