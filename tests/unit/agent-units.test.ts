// Units of the agent that need no runc: the memory-pressure order (frozen apps, longest idle first), MemAvailable
// parsing, the generated OCI config (isolation settings present), and who may change state through the API.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readImageConfig } from '../../fetcher/src/formats/image-config.js';
import { loadImageSpec } from '../../fetcher/src/formats/image-spec.js';
import { hostAllowed, mayChangeState } from '../../bootos/src/agent/api/api.js';
import { MemoryPressureWatch, memAvailableBytes, pressureVictims } from '../../bootos/src/agent/app/idle.js';
import { DEFAULT_ENV, INIT_TARGET, containerSpec, locateInit, mergeEnv, mountPoints, sharesFromWeight, type ContainerSpecInput } from '../../bootos/src/agent/runtime/runc.js';
import { parseImageSpec } from '../../fetcher/src/formats/image-spec.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
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
    initBinary: null,
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

/** The spec of a runtime-none image given as image.yaml fields (init on by default). */
function specOf(fields: Record<string, unknown>, input: Partial<ContainerSpecInput> = {}): any {
  const { config } = parseImageSpec({ name: 'plain', version: '1.0.0', entrypoint: ['/app/run', '--flag'], ...fields }, 'test image');
  return containerSpec({
    config: readImageConfig(JSON.parse(JSON.stringify(config))),
    rootfs: '/store/rootfs/x',
    hostname: 'plain',
    dataDir: null,
    netnsPath: null,
    runtimeBinds: [],
    initBinary: '/usr/bin/tini-static',
    cgroupsPath: 'bootos/a-plain-1',
    arch: 'x86_64',
    tmpBytes: 1024,
    maxOpenFiles: 64,
    extraEnv: ['BOOTOS_APP=plain'],
    ...input,
  });
}

test('init: tini is PID 1, bound read-only at /dev/init, and runs the entrypoint; without init the entrypoint is PID 1', async (t) => {
  const spec = specOf({});
  t.deepEqual(spec.process.args, [INIT_TARGET, '--', '/app/run', '--flag']);
  const init = spec.mounts.find((m: { destination: string }) => m.destination === INIT_TARGET);
  t.deepEqual(init, { destination: '/dev/init', type: 'bind', source: '/usr/bin/tini-static', options: ['bind', 'ro', 'nosuid', 'nodev'] });
  const order = spec.mounts.map((m: { destination: string }) => m.destination);
  t.true(order.indexOf('/dev') < order.indexOf(INIT_TARGET), '/dev (a tmpfs) is mounted before the bind into it');
  const off = specOf({ init: false });
  t.deepEqual(off.process.args, ['/app/run', '--flag']);
  t.false(off.mounts.some((m: { destination: string }) => m.destination === INIT_TARGET));
  t.deepEqual(specOf({ runtime: 'node', entrypoint: ['node', '/app/a.js'] }, { initBinary: null }).process.args, ['node', '/app/a.js'], 'node images: no init by default');
  const missing = t.throws(() => specOf({}, { initBinary: null }));
  t.true(isBootosError(missing, 'APP_INIT_MISSING'));
});

test('locateInit: the host binary, or APP_INIT_MISSING (never a run without init)', async (t) => {
  t.regex(await locateInit('/usr/bin/tini-static'), /tini-static$/);
  const dir = await tempDir();
  await writeFile(join(dir, 'tini'), 'not executable', { mode: 0o644 });
  for (const path of [join(dir, 'none'), join(dir, 'tini'), dir]) {
    const err = await t.throwsAsync(locateInit(path));
    t.true(isBootosError(err, 'APP_INIT_MISSING'), path);
  }
});

test('env: the OCI default PATH and HOME=/tmp, the image overrides them, the agent overrides the image; each name once', (t) => {
  t.deepEqual(specOf({}).process.env, [...DEFAULT_ENV, 'BOOTOS_APP=plain']);
  t.is(DEFAULT_ENV[0], 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  const env: string[] = specOf({ env: { PATH: '/app/bin:/bin', HOME: '/data', LANG: 'C.UTF-8', BOOTOS_APP: 'spoofed' } }).process.env;
  t.deepEqual(env, ['PATH=/app/bin:/bin', 'HOME=/data', 'BOOTOS_APP=plain', 'LANG=C.UTF-8'], 'a name keeps the place where it first appeared');
  t.deepEqual(mergeEnv(['A=1', 'B=2'], ['A=3', 'C='], ['B=4']), ['A=3', 'B=4', 'C=']);
});

test('/tmp: a 1777 mount point comes first, so that runc gives the tmpfs mode 1777', (t) => {
  t.deepEqual(mountPoints([], null)[0], { path: '/tmp', file: false, mode: 0o1777 });
  t.is(specOf({}).mounts.find((m: { destination: string }) => m.destination === '/tmp').options.includes('mode=1777'), true);
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
