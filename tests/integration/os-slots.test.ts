// Proves, on a real directory standing in for the ESP and with releases published by `bootos os publish` into a
// real OCI registry (Debian's docker-registry, through `bootos push`):
//   - v1 in slot a → v2 installed into slot b with a boot counter and made the default → blessed after a good boot
//     → a broken v3 in slot a uses up its tries (systemd-boot's renames, done here by hand) → the default falls back
//     to slot b → the agent records v3 as failed and never installs it again; a later v4 installs
//   - an updater killed (SIGKILL) in the middle of writing a slot leaves the running slot's entry the default and no
//     entry naming a half-written file; the next run resumes the download (a Range request) and completes
//   - a device booted without `bootos.slot=` (PXE, direct kernel) skips OS updates and says so
//   - a boot on trial does not overwrite its fallback; a transient download failure is retried at the next check
// What it does not prove: that systemd-boot and the firmware do the same (the QEMU e2e does, docs/os-updates.md).
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, rename, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pushRegistry } from '../../fetcher/src/publish/push.js';
import { openSource } from '../../fetcher/src/source/open-source.js';
import { Store } from '../../fetcher/src/store/store.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { entryFileName, type Slot } from '../../fetcher/src/formats/boot-entry.js';
import { Esp } from '../../bootos/src/agent/os/esp.js';
import { OsUpdater, type OsStatus } from '../../bootos/src/agent/os/os-updater.js';
import { startDockerRegistry } from '../support/docker-registry.js';
import { makeRegistry, REPO, testDir, type TestRegistry } from '../support/registry.js';
import { runCli } from '../support/cli.js';
import { fakeBuild, makeEspDir, type FakeBuild } from '../support/os-release.js';
import { slowServer } from '../support/slow-server.js';

const FIXTURE = join(REPO, 'tests/fixtures/os/install-os.ts');

function runFixture(args: string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; kill(): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return { done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))), kill: () => child.kill('SIGKILL') };
}

async function publish(t: import('ava').ExecutionContext, reg: TestRegistry, build: FakeBuild, version: string): Promise<void> {
  const result = await runCli(['os', 'publish', build.dir, '--version', version, '--registry', reg.dir]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
  t.regex(result.stderr, /initramfs: hashed \d+\/\d+ bytes \(100%\)/, 'progress on stderr');
  await reg.sign(); // pins the newest published OS release
}

/** What systemd-boot does to a counted entry when it boots it: one try used. */
async function systemdBootTries(esp: Esp, slot: Slot): Promise<void> {
  const entry = (await esp.entryOf(slot))!;
  const left = entry.name.triesLeft!;
  await rename(join(esp.entriesDir, entry.name.file), join(esp.entriesDir, entryFileName(slot, { left: left - 1, done: entry.name.triesDone + 1 })));
}

async function entryFiles(esp: Esp): Promise<string[]> {
  return (await esp.entries()).map((e) => e.name.file);
}

test('v1 → v2 → blessed → a broken v3 falls back to v2, is recorded, and is never installed again', async (t) => {
  const base = await testDir(t, 'bootos-os-slots-');
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const oci = await startDockerRegistry();
  t.teardown(() => oci.stop());
  const url = oci.url('bootos');
  const builds = { v1: await fakeBuild(join(base, 'out1')), v2: await fakeBuild(join(base, 'out2')), v3: await fakeBuild(join(base, 'out3')), v4: await fakeBuild(join(base, 'out4')) };
  const esp = new Esp(await makeEspDir(join(base, 'esp'), builds.v1, '1'));
  const stateDir = join(base, 'state');
  const store = new Store(join(base, 'store'));
  const help = await runCli(['os', 'publish', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--version VALUE/);

  /** One boot of the device from `slot`: verify the channel, assess the boot, let the updater run, bless. */
  const boot = async (slot: Slot): Promise<OsStatus> => {
    const source = openSource(url);
    try {
      const trust = await Trust.open({ initialRoot: reg.rootBytes, stateDir });
      const channel = (await trust.fetchChannel(source, 'stable')).signed;
      const updater = await OsUpdater.open({ espDir: esp.dir, bootedSlot: slot, stateDir, store, source, arch: 'x86_64' });
      const before = updater.status;
      await updater.bless(); // the boot is good: the channel verified (the agent also waits for the profile's apps)
      updater.channelVerified(channel);
      await updater.settled();
      t.is(updater.status.error, null, JSON.stringify(updater.status.error));
      return { ...updater.status, onTrial: before.onTrial, fallback: before.fallback };
    } finally {
      source.close();
    }
  };

  // v2 is published: the device running v1 from slot a writes it into slot b and makes it the default.
  await publish(t, reg, builds.v2, '2');
  await pushRegistry(reg.dir, url);
  let status = await boot('a');
  t.like(status, { bootedFrom: 'disk', slot: 'a', version: '1', onTrial: false, pendingRestart: { version: '2', slot: 'b' } });
  t.deepEqual(await entryFiles(esp), ['bootos-a.conf', 'bootos-b+3.conf']);
  t.is((await esp.defaultEntry())!.name.file, 'bootos-b+3.conf');
  t.deepEqual(await readFile(esp.slotPath('b', 'vmlinuz')), builds.v2.kernel);
  t.deepEqual(await readFile(esp.slotPath('b', 'initramfs')), builds.v2.initramfs);
  t.regex(await readFile(join(esp.entriesDir, 'bootos-b+3.conf'), 'utf8'), /options .*bootos\.registry=http:\/\/10\.0\.2\.2:8080\/ bootos\.slot=b\n/);

  // The restart: systemd-boot boots b and counts a try; the boot is good, the entry is blessed.
  await systemdBootTries(esp, 'b');
  status = await boot('b');
  t.like(status, { slot: 'b', version: '2', onTrial: true, pendingRestart: null, fallback: null });
  t.deepEqual(await entryFiles(esp), ['bootos-a.conf', 'bootos-b.conf']);
  t.is((await esp.defaultEntry())!.name.file, 'bootos-b.conf');

  // v3 is published; the device running v2 from b writes it into a.
  await publish(t, reg, builds.v3, '3');
  await pushRegistry(reg.dir, url);
  status = await boot('b');
  t.like(status, { slot: 'b', version: '2', pendingRestart: { version: '3', slot: 'a' } });
  t.deepEqual(await entryFiles(esp), ['bootos-a+3.conf', 'bootos-b.conf']);
  t.is((await esp.defaultEntry())!.entry.version, '3');

  // v3 is broken: each boot of it fails before the agent blesses it; systemd-boot counts 3 tries, then falls back.
  for (const left of [2, 1]) {
    await systemdBootTries(esp, 'a');
    t.is((await esp.defaultEntry())!.name.file, entryFileName('a', { left, done: 3 - left }), 'tries left: still the default');
  }
  await systemdBootTries(esp, 'a');
  t.is((await esp.defaultEntry())!.name.file, 'bootos-b.conf', 'no tries left: systemd-boot boots slot b');
  status = await boot('b');
  t.like(status, { slot: 'b', version: '2', fallback: { version: '3', slot: 'a' }, available: null, pendingRestart: null });
  t.deepEqual(status.failed, ['3']);
  t.deepEqual(await entryFiles(esp), ['bootos-b.conf'], 'the failed entry is gone and nothing was installed again');
  // At the next boots too: the channel still pins v3, the device leaves it alone.
  status = await boot('b');
  t.like(status, { available: null, pendingRestart: null, fallback: null });
  t.deepEqual(await entryFiles(esp), ['bootos-b.conf']);

  // A later release is installed.
  await publish(t, reg, builds.v4, '4');
  await pushRegistry(reg.dir, url);
  status = await boot('b');
  t.like(status, { pendingRestart: { version: '4', slot: 'a' } });
  t.deepEqual(await entryFiles(esp), ['bootos-a+3.conf', 'bootos-b.conf']);
  t.deepEqual(await readFile(esp.slotPath('a', 'vmlinuz')), builds.v4.kernel);
});

test('SIGKILL in the middle of a slot write: the running entry stays the default, no entry names a partial file; the next run resumes', async (t) => {
  const base = await testDir(t, 'bootos-os-kill-');
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const running = await fakeBuild(join(base, 'out1'));
  const next = await fakeBuild(join(base, 'out2'), 'x86_64', { kernel: 3 * 1024 * 1024, initramfs: 5 * 1024 * 1024 });
  await publish(t, reg, next, '2');
  const ranges: string[] = [];
  const server = await slowServer(reg.dir, ranges, 10);
  t.teardown(() => server.close());
  const esp = new Esp(await makeEspDir(join(base, 'esp'), running, '1'));
  const args = [server.url, join(reg.dir, 'root.json'), esp.dir, join(base, 'store'), join(base, 'state'), 'a'];

  for (const file of ['vmlinuz', 'initramfs']) {
    const child = runFixture(args);
    // Kill once a temp file of `file` has bytes in slot b (the write is under way).
    const deadline = Date.now() + 60_000;
    let killed = false;
    while (Date.now() < deadline && !killed) {
      for (const name of await readdir(esp.slotPath('b'))) {
        if (name.startsWith(`.tmp-${file}-`) && (await stat(esp.slotPath('b', name)).catch(() => ({ size: 0 }))).size > 256 * 1024) {
          child.kill();
          killed = true;
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const { code, stderr } = await child.done;
    t.true(killed, `killed while writing ${file} (${stderr})`);
    t.not(code, 0);
    // The running slot is still the default and the only entry; every entry names complete, right files.
    t.deepEqual(await entryFiles(esp), ['bootos-a.conf']);
    t.is((await esp.defaultEntry())!.name.file, 'bootos-a.conf');
    t.deepEqual(await readFile(esp.slotPath('a', 'vmlinuz')), running.kernel);
    t.deepEqual(await readFile(esp.slotPath('a', 'initramfs')), running.initramfs);
    t.true((await readdir(esp.slotPath('b'))).some((n) => n.startsWith('.tmp-')), 'the partial file is under a temp name no entry names');
  }

  const { code, stdout, stderr } = await runFixture(args).done;
  t.is(code, 0, stderr);
  t.like(JSON.parse(stdout) as OsStatus, { pendingRestart: { version: '2', slot: 'b' }, error: null });
  t.deepEqual(await entryFiles(esp), ['bootos-a.conf', 'bootos-b+3.conf']);
  t.deepEqual(await readFile(esp.slotPath('b', 'vmlinuz')), next.kernel);
  t.deepEqual(await readFile(esp.slotPath('b', 'initramfs')), next.initramfs);
  t.deepEqual((await readdir(esp.slotPath('b'))).sort(), ['initramfs', 'vmlinuz'], 'no temp file left');
  t.true(ranges.length > 0, 'a later run resumed a partial download with a Range request');
});

test('a device booted without bootos.slot= (PXE, direct kernel) skips OS updates and says so', async (t) => {
  const base = await testDir(t, 'bootos-os-pxe-');
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  await publish(t, reg, await fakeBuild(join(base, 'out2')), '2');
  const esp = new Esp(await makeEspDir(join(base, 'esp'), await fakeBuild(join(base, 'out1')), '1'));
  const source = openSource(reg.dir);
  const channel = (await (await Trust.open({ initialRoot: reg.rootBytes })).fetchChannel(source, 'stable')).signed;
  const logs: string[] = [];
  const updater = await OsUpdater.open({ espDir: esp.dir, bootedSlot: null, stateDir: join(base, 'state'), store: new Store(join(base, 'store')), source, arch: 'x86_64', log: (m) => logs.push(m) });
  updater.channelVerified(channel);
  await updater.settled();
  t.like(updater.status, { bootedFrom: 'other', slot: null, version: null, pendingRestart: null, available: null });
  t.regex(updater.status.skipped!, /not booted from a disk slot/);
  t.true(logs.some((l) => /OS updates skipped/.test(l)));
  t.deepEqual(await entryFiles(esp), ['bootos-a.conf']);
  t.deepEqual(await readdir(esp.slotPath('b')), []);
});

test('a boot still on trial (not blessed) does not overwrite the other slot, its fallback', async (t) => {
  const base = await testDir(t, 'bootos-os-trial-');
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const v1 = await fakeBuild(join(base, 'out1'));
  const esp = new Esp(await makeEspDir(join(base, 'esp'), v1, '1'));
  const store = new Store(join(base, 'store'));
  const stateDir = join(base, 'state');
  const source = openSource(reg.dir);
  const verify = async () => (await (await Trust.open({ initialRoot: reg.rootBytes, stateDir })).fetchChannel(source, 'stable')).signed;
  await publish(t, reg, await fakeBuild(join(base, 'out2')), '2');
  const first = await OsUpdater.open({ espDir: esp.dir, bootedSlot: 'a', stateDir, store, source, arch: 'x86_64' });
  first.channelVerified(await verify());
  await first.settled();
  await systemdBootTries(esp, 'b'); // the restart into 2; its agent has not blessed it (yet)
  await publish(t, reg, await fakeBuild(join(base, 'out3')), '3');
  const onTrial = await OsUpdater.open({ espDir: esp.dir, bootedSlot: 'b', stateDir, store, source, arch: 'x86_64' });
  t.true(onTrial.status.onTrial);
  onTrial.channelVerified(await verify());
  await onTrial.settled();
  t.like(onTrial.status, { pendingRestart: null, error: null });
  t.deepEqual(await entryFiles(esp), ['bootos-a.conf', 'bootos-b+2-1.conf'], 'slot a (1) is still there to fall back to');
  t.deepEqual(await readFile(esp.slotPath('a', 'vmlinuz')), v1.kernel);
  // Once blessed, the next channel check installs 3 into a.
  t.true(await onTrial.bless());
  onTrial.channelVerified(await verify());
  await onTrial.settled();
  t.like(onTrial.status, { pendingRestart: { version: '3', slot: 'a' } });
});

test('a download that fails for a transient reason is tried again at the next unchanged channel check', async (t) => {
  const base = await testDir(t, 'bootos-os-retry-');
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const next = await fakeBuild(join(base, 'out2'));
  await publish(t, reg, next, '2');
  // A registry whose kernel blob answers 503 while `broken`.
  let broken = true;
  const kernelPath = `/blobs/sha256/${createHash('sha256').update(next.kernel).digest('hex')}`;
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    if (broken && path === kernelPath) return void res.writeHead(503).end();
    try {
      const bytes = await readFile(join(reg.dir, path));
      res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const source = openSource(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, { limits: { maxRetries: 1, retryBaseDelayMs: 10, retryMaxDelayMs: 20 } });
  t.teardown(() => source.close());
  const esp = new Esp(await makeEspDir(join(base, 'esp'), await fakeBuild(join(base, 'out1')), '1'));
  const channel = (await (await Trust.open({ initialRoot: reg.rootBytes })).fetchChannel(source, 'stable')).signed;
  const updater = await OsUpdater.open({ espDir: esp.dir, bootedSlot: 'a', stateDir: join(base, 'state'), store: new Store(join(base, 'store')), source, arch: 'x86_64' });
  updater.channelVerified(channel);
  await updater.settled();
  t.like(updater.status, { pendingRestart: null, error: { code: 'HTTP_ERROR' } });
  t.deepEqual(await entryFiles(esp), ['bootos-a.conf']);
  broken = false;
  updater.retry();
  await updater.settled();
  t.like(updater.status, { pendingRestart: { version: '2', slot: 'b' }, error: null });
  t.deepEqual(await readFile(esp.slotPath('b', 'vmlinuz')), next.kernel);
});
