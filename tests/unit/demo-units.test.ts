// `bootos demo` without QEMU: one step total per run (--no-boot counted "1/6" then "2/5"), the host ports it forwards
// and the agent's port map that makes the guest open the same ones (so the kiosk links to what the host reaches), the
// agent's `bootos.port_map` reader, the wait for the profile's apps, and the lock of a work folder.
import test from 'ava';
import { pairingLink } from '../../bootos/src/demo/pairing-link.js';
import { execFileSync, spawn } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { configFromCmdline, configFromJson } from '../../bootos/src/agent/config.js';
import { listedApps } from '../../bootos/src/demo/apps-ready.js';
import { ensureDataDisk, lockWorkDir } from '../../bootos/src/demo/data-disk.js';
import { parsePortsOption, planPorts, portMapArg } from '../../bootos/src/demo/ports.js';
import { BOOT_STEPS, ROUND_TRIP_STEPS, Steps } from '../../bootos/src/demo/steps.js';
import { tempDir } from '../support/registry.js';

test('every line of a run counts to the same total: 5 without QEMU, 6 with it', (t) => {
  const lines: string[] = [];
  const round = new Steps(ROUND_TRIP_STEPS, (l) => lines.push(l));
  round.line('key', 'k');
  round.line('publish', 'hello');
  round.line('publish', 'calc');
  round.line('channel', 'c');
  round.line('serve', 's');
  round.line('verify', 'v');
  t.deepEqual(lines, ['1/5 key: k', '2/5 publish: hello', '2/5 publish: calc', '3/5 channel: c', '4/5 serve: s', '5/5 verify: v']);
  const boot = new Steps(BOOT_STEPS, () => {});
  t.is(boot.line('key', 'k'), '1/6 key: k');
  t.is(boot.line('boot', 'b'), '6/6 boot: b');
});

const PUBLIC = [8083, 8081, 8082, 8085, 8084];
const allFree = async (p: number) => p;

test('ports: each where it is when the host has it free, and no port map', async (t) => {
  const plan = await planPorts(PUBLIC, {}, allFree);
  t.is(plan.apiPort, 8080);
  t.deepEqual(plan.apps, [8081, 8082, 8083, 8084, 8085].map((p) => ({ publicPort: p, port: p })));
  t.deepEqual(portMapArg(plan), []);
  t.deepEqual(plan.notes, []);
});

test('ports: a taken one moves to a free port, and the guest is told to open it there', async (t) => {
  const spare = [40001, 8084, 40002]; // a "free" port that another image opens in the guest is not used
  const free = async (p: number) => (p === 8082 || p === 8080 || p === 0 ? spare.shift()! : p);
  const plan = await planPorts(PUBLIC, {}, free);
  t.is(plan.apiPort, 40001);
  t.deepEqual(plan.apps.find((a) => a.publicPort === 8082), { publicPort: 8082, port: 40002 });
  t.deepEqual(portMapArg(plan), ['bootos.port_map=8082:40002']);
  t.true(plan.notes.some((n) => /8082 is taken: that app is on 40002/.test(n)));
  // The agent reads that argument back as the map it listens by.
  t.deepEqual(configFromCmdline(`bootos.registry=http://x/ ${portMapArg(plan)[0]}`).portMap, { 8082: 40002 });
});

test('ports: --ports BASE puts the kiosk on BASE and the apps after it, in the order of their ports', async (t) => {
  const plan = await planPorts(PUBLIC, { base: 9080 }, allFree);
  t.is(plan.apiPort, 9080);
  t.deepEqual(plan.apps.map((a) => [a.publicPort, a.port]), [[8081, 9081], [8082, 9082], [8083, 9083], [8084, 9084], [8085, 9085]]);
  t.deepEqual(portMapArg(plan), ['bootos.port_map=8081:9081,8082:9082,8083:9083,8084:9084,8085:9085']);
  const taken = await planPorts(PUBLIC, { base: 9080 }, async (p) => (p === 9083 ? 41234 : p)).catch((e) => e);
  t.true(isBootosError(taken, 'PORT_IN_USE'), String(taken));
  t.regex(taken.message, /host port 9083 is in use/);
  const onApi = await planPorts(PUBLIC, { base: 8078 }, allFree).catch((e) => e);
  t.true(isBootosError(onApi, 'USAGE'));
  t.regex(onApi.message, /would open an app on 8080/);
  t.is(parsePortsOption('9080'), 9080);
  for (const bad of ['x', '0', '70000', '90 80']) t.true(isBootosError(t.throws(() => parsePortsOption(bad)), 'USAGE'), bad);
});

test('the agent reads bootos.port_map and agent.json portMap, and refuses a bad or ambiguous map', (t) => {
  t.deepEqual(configFromCmdline('bootos.registry=http://x/').portMap, {});
  t.deepEqual(configFromCmdline('bootos.registry=http://x/ bootos.port_map=8081:9081,8082:9082').portMap, { 8081: 9081, 8082: 9082 });
  t.deepEqual(configFromJson({ registry: 'http://x/', portMap: { 8081: 9081 } }, 'agent.json', '/cfg').portMap, { 8081: 9081 });
  for (const bad of ['8081', '8081:', '8081:9081;8082:9082', '8081:70000', '8081:9081,8081:9082', '8081:9081,8082:9081']) {
    const err = t.throws(() => configFromCmdline(`bootos.registry=http://x/ bootos.port_map=${bad}`));
    t.true(isBootosError(err, 'CONFIG_INVALID'), bad);
    t.regex(err!.message, /bootos\.port_map/, bad);
  }
  t.regex(t.throws(() => configFromJson({ registry: 'http://x/', portMap: { http: 1 } }, 'agent.json', '/cfg'))!.message, /portMap\.http: expected a public port number/);
});

test('"up" waits for every app of the profile with a state and a port', (t) => {
  const names = ['hello', 'notes'];
  t.is(listedApps({ apps: [] }, names), null, 'channel not verified yet');
  t.is(listedApps({ apps: [{ name: 'hello', state: 'available', port: 8081 }] }, names), null, 'notes missing');
  t.is(listedApps({ apps: [{ name: 'hello', state: 'available', port: 8081 }, { name: 'notes', state: 'available', port: null }] }, names), null, 'notes has no port yet');
  t.is(listedApps('nonsense', names), null);
  t.deepEqual(listedApps({ apps: [{ name: 'notes', state: 'cached', port: 8083 }, { name: 'hello', state: 'available', port: 8081 }, { name: 'calc', state: 'x', port: 1 }] }, names), [
    { name: 'hello', state: 'available', port: 8081 },
    { name: 'notes', state: 'cached', port: 8083 },
  ]);
});

test('one demo per work folder: a living holder refuses the second, a dead one leaves its lock to be taken', async (t) => {
  const work = await tempDir('bootos-demo-lock-');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const release = await lockWorkDir(work);
  t.is((await readFile(join(work, 'demo.lock'), 'utf8')).trim(), String(process.pid));
  const busy = await lockWorkDir(work).catch((e) => e);
  t.true(isBootosError(busy, 'WORK_DIR_BUSY'), String(busy));
  t.regex(busy.message, new RegExp(`pid ${process.pid}`));
  await release();
  // A pid that has exited: the lock of a killed demo.
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  await writeFile(join(work, 'demo.lock'), `${child.pid}\n`);
  const again = await lockWorkDir(work);
  t.is((await readFile(join(work, 'demo.lock'), 'utf8')).trim(), String(process.pid));
  await again();
});

test('the data disk is made once, sparse, an ext4 labelled BOOTOS-DATA, and kept', async (t) => {
  const work = await tempDir('bootos-demo-disk-');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const first = await ensureDataDisk(work, 64);
  t.true(first.made);
  const s = await stat(first.file);
  t.is(s.size, 64 * 1024 * 1024);
  t.true(s.blocks * 512 < s.size / 4, 'sparse');
  t.is(execFileSync('blkid', ['-o', 'value', '-s', 'LABEL', first.file]).toString().trim(), 'BOOTOS-DATA');
  t.false((await ensureDataDisk(work, 64)).made);
});

test('pairing link: the newest code of the console on the kiosk URL, or none yet', (t) => {
  const log = 'bootos-agent: pairing code 1111 2222 (for 10 min): …\nbootos-agent: ready\nbootos-agent: pairing code 3333 4444 (for 10 min): …\n';
  t.is(pairingLink(log, 'http://127.0.0.1:8080/'), 'http://127.0.0.1:8080/?pair=33334444');
  t.is(pairingLink('bootos-agent: ready\n', 'http://127.0.0.1:8080/'), null);
});
