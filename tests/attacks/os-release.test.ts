// What this file proves: the channel's `os` entry and the OS release it pins get the same defences as apps. Each
// case starts from a valid, really signed registry with a published OS release and changes one thing: an older OS
// release in a newer channel (rollback, remembered across restarts), a channel that expired before the install
// (freeze), a manifest or a kernel whose bytes differ from the signed digest or size (refused while streaming, before
// anything is renamed into the slot), a manifest pinned for another architecture (mix-and-match), a tampered entry,
// and a release that already failed to boot here. Each asserts the coded error and that the ESP did not change.
import test from 'ava';
import { readFile, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError, type ErrorCode } from '../../fetcher/src/core/error.js';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { sign, signChannel } from '../../fetcher/src/publish/signer.js';
import { publishOs, publishedOsReleases } from '../../fetcher/src/publish/os-publish.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { Store } from '../../fetcher/src/store/store.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { resolveOsRelease } from '../../fetcher/src/trust/resolve-os.js';
import type { Channel } from '../../fetcher/src/formats/trust-docs.js';
import { Esp } from '../../bootos/src/agent/os/esp.js';
import { OsState } from '../../bootos/src/agent/os/os-state.js';
import { installOsRelease } from '../../bootos/src/agent/os/slot-writer.js';
import { makeRegistry, testDir, type TestRegistry } from '../support/registry.js';
import { fakeBuild, makeEspDir, type FakeBuild } from '../support/os-release.js';

async function expectCode(t: import('ava').ExecutionContext, promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await t.throwsAsync(promise);
  t.true(isBootosError(err, code), `expected ${code}, got ${(err as { code?: string }).code}: ${err?.message}`);
}

interface Fixture {
  reg: TestRegistry;
  base: string;
  running: FakeBuild;
  next: FakeBuild;
  esp: Esp;
  store: Store;
  state: OsState;
  stateDir: string;
}

/** A registry with OS release 2 published and pinned; a device ESP running release 1 from slot a. */
async function fixture(t: import('ava').ExecutionContext): Promise<Fixture> {
  const base = await testDir(t, 'bootos-os-attack-');
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const running = await fakeBuild(join(base, 'out1'));
  const next = await fakeBuild(join(base, 'out2'));
  await publishOs({ buildDirs: [next.dir], registry: reg.dir, version: '2' });
  await reg.sign();
  const esp = new Esp(await makeEspDir(join(base, 'esp'), running, '1'));
  const stateDir = join(base, 'state');
  return { reg, base, running, next, esp, store: new Store(join(base, 'store')), state: await OsState.open(stateDir), stateDir };
}

async function channelOf(reg: TestRegistry): Promise<Channel> {
  return JSON.parse(await readFile(join(reg.dir, 'channels', 'stable.json'), 'utf8')) as Channel;
}

async function verify(f: Fixture, now?: () => number) {
  const trust = await Trust.open({ initialRoot: f.reg.rootBytes, stateDir: f.stateDir, ...(now ? { now } : {}) });
  return (await trust.fetchChannel(new DirSource(f.reg.dir), 'stable')).signed;
}

async function install(f: Fixture, now?: () => number) {
  const channel = await verify(f);
  const source = new DirSource(f.reg.dir);
  const release = (await resolveOsRelease(source, channel, 'x86_64'))!;
  return installOsRelease({ esp: f.esp, store: f.store, source, channel, release, bootedSlot: 'a', state: f.state, ...(now ? { now } : {}) });
}

/** The ESP is as the disk image left it: slot a's entry only, slot b empty. */
async function espUntouched(t: import('ava').ExecutionContext, f: Fixture): Promise<void> {
  t.deepEqual((await f.esp.entries()).map((e) => e.name.file), ['bootos-a.conf']);
  t.deepEqual(await readdir(f.esp.slotPath('b')), []);
  t.deepEqual(await readFile(f.esp.slotPath('a', 'vmlinuz')), f.running.kernel);
}

test('a valid OS release verifies and installs into slot b, which becomes the default', async (t) => {
  const f = await fixture(t);
  const result = await install(f);
  t.like(result, { installed: true, slot: 'b', entry: 'bootos-b+3.conf', version: '2' });
  t.deepEqual(await readFile(f.esp.slotPath('b', 'vmlinuz')), f.next.kernel);
  t.deepEqual(await readFile(f.esp.slotPath('b', 'initramfs')), f.next.initramfs);
  t.is((await f.esp.defaultEntry())!.name.file, 'bootos-b+3.conf');
});

test('rollback: a newer channel that pins an older OS release → ROLLBACK, remembered across restarts', async (t) => {
  const f = await fixture(t);
  await verify(f); // the device has seen OS release 2
  await publishOs({ buildDirs: [f.running.dir], registry: f.reg.dir, version: '1' });
  // The signer refuses to publish it (next test), so the channel key's holder signs it by hand: channel version 3.
  const doc = await channelOf(f.reg);
  const v1 = (await publishedOsReleases(f.reg.dir)).find((r) => r.version === '1')!;
  await writeFile(join(f.reg.dir, 'channels', 'stable.json'), JSON.stringify(sign({ ...doc.signed, version: doc.signed.version + 1, os: { version: '1', images: v1.images } }, [f.reg.key])));
  // A fresh Trust over the same state directory: the check holds after a reboot.
  await expectCode(t, verify(f), 'ROLLBACK');
  await espUntouched(t, f);
});

test('the signer refuses to pin an OS release older than the channel pinned before', async (t) => {
  const f = await fixture(t);
  await publishOs({ buildDirs: [f.running.dir], registry: f.reg.dir, version: '1' });
  await expectCode(t, signChannel({ registry: f.reg.dir, name: 'stable', profiles: { office: ['hello'] }, signers: [f.reg.key], expiresMs: 86_400_000, os: '1' }), 'ROLLBACK');
});

test('freeze: a channel that expired after it was verified installs no OS → EXPIRED', async (t) => {
  const f = await fixture(t);
  await expectCode(t, install(f, () => Date.now() + 30 * 86_400_000), 'EXPIRED');
  await espUntouched(t, f);
});

test('freeze: an expired channel with an os entry is not verified → EXPIRED', async (t) => {
  const f = await fixture(t);
  await expectCode(t, verify(f, () => Date.now() + 30 * 86_400_000), 'EXPIRED');
});

test('wrong digest: a manifest replaced under the pinned digest → DIGEST_MISMATCH', async (t) => {
  const f = await fixture(t);
  const pinned = (await channelOf(f.reg)).signed.os!.images.amd64!;
  const file = join(f.reg.dir, blobPath(pinned.digest));
  const bytes = await readFile(file);
  await writeFile(file, Buffer.from(bytes.toString('latin1').replace('"2"', '"9"'), 'latin1'));
  await expectCode(t, install(f), 'DIGEST_MISMATCH');
  await espUntouched(t, f);
});

test('wrong digest: a kernel whose bytes differ (same size) is refused while streaming, nothing lands in the slot', async (t) => {
  const f = await fixture(t);
  const { kernel } = (await resolveOsRelease(new DirSource(f.reg.dir), await verify(f), 'x86_64'))!;
  const file = join(f.reg.dir, blobPath(kernel.digest));
  const bytes = await readFile(file);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  await writeFile(file, bytes);
  await expectCode(t, install(f), 'DIGEST_MISMATCH');
  await espUntouched(t, f);
  t.false(await f.store.hasBlob(kernel.digest), 'the wrong bytes are not committed to the store either');
});

test('wrong size: a kernel shorter than its signed size → SIZE_MISMATCH, nothing lands in the slot', async (t) => {
  const f = await fixture(t);
  const { kernel } = (await resolveOsRelease(new DirSource(f.reg.dir), await verify(f), 'x86_64'))!;
  await truncate(join(f.reg.dir, blobPath(kernel.digest)), kernel.size - 1000);
  await expectCode(t, install(f), 'SIZE_MISMATCH');
  await espUntouched(t, f);
});

test('mix-and-match: an amd64 release pinned as the arm64 one → OS_RELEASE_INVALID', async (t) => {
  const f = await fixture(t);
  const doc = await channelOf(f.reg);
  const os = doc.signed.os!;
  await writeFile(join(f.reg.dir, 'channels', 'stable.json'), JSON.stringify(sign({ ...doc.signed, version: doc.signed.version + 1, os: { ...os, images: { arm64: os.images.amd64! } } }, [f.reg.key])));
  await expectCode(t, resolveOsRelease(new DirSource(f.reg.dir), await verify(f), 'aarch64'), 'OS_RELEASE_INVALID');
  // And an architecture the release does not have at all.
  await expectCode(t, resolveOsRelease(new DirSource(f.reg.dir), await verify(f), 'x86_64'), 'PLATFORM_NOT_FOUND');
});

test('mix-and-match: the os entry says another version than the manifest → OS_RELEASE_INVALID', async (t) => {
  const f = await fixture(t);
  const doc = await channelOf(f.reg);
  await writeFile(join(f.reg.dir, 'channels', 'stable.json'), JSON.stringify(sign({ ...doc.signed, version: doc.signed.version + 1, os: { ...doc.signed.os!, version: '7' } }, [f.reg.key])));
  await expectCode(t, install(f), 'OS_RELEASE_INVALID');
  await espUntouched(t, f);
});

test('arbitrary software: the os entry tampered after signing → SIGNATURE_INVALID', async (t) => {
  const f = await fixture(t);
  const doc = await channelOf(f.reg);
  doc.signed.os!.version = '3';
  await writeFile(join(f.reg.dir, 'channels', 'stable.json'), JSON.stringify(doc));
  await expectCode(t, verify(f), 'SIGNATURE_INVALID');
});

test('a release that failed to boot here is never installed again → OS_VERSION_FAILED', async (t) => {
  const f = await fixture(t);
  await f.state.recordFailure('2', 'b');
  await expectCode(t, install(f), 'OS_VERSION_FAILED');
  await espUntouched(t, f);
  // The failure survives a restart of the agent.
  t.true((await OsState.open(f.stateDir)).hasFailed('2'));
});
