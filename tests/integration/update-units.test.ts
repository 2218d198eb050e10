// The parts of hot updates that need no container: the conditional GET behind channel polling (a real static
// server on port 0, and a registry directory), the poll jitter, /data snapshots (fingerprint, copy with owners and
// modes, restore in place and by swap, a swap finished after a kill, UPDATE_NO_SPACE on a full data root: a real
// tmpfs), the journal's guards, and recoverUpdate() before and after the switch.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chown, lstat, mkdir, readFile, readdir, rename, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { startServer } from '../../fetcher/src/publish/serve.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { HttpSource } from '../../fetcher/src/source/http-source.js';
import { configFromJson } from '../../bootos/src/agent/config.js';
import { readJournalEntry, UpdateStore, type JournalEntry } from '../../bootos/src/agent/update/journal.js';
import { recoverUpdate } from '../../bootos/src/agent/update/recovery.js';
import { checkSnapshotSpace, dataFingerprint, restoreBySwap, restoreInPlace, snapshotPathOf, takeSnapshot } from '../../bootos/src/agent/update/snapshot.js';
import { pollDelay } from '../../bootos/src/agent/watcher.js';
import { testDir } from '../support/registry.js';

const execFileP = promisify(execFile);

test('conditional GET: 200 with an ETag, then 304 (no bytes) until the document changes; over the transport and from a directory', async (t) => {
  const dir = await testDir(t);
  await mkdir(join(dir, 'channels'));
  await writeFile(join(dir, 'channels', 'stable.json'), '{"v":1}');
  const server = await startServer({ dir, log: () => {} });
  t.teardown(() => server.close());
  const http = new HttpSource(server.url);
  t.teardown(() => http.close());
  // HttpSource (through its transport) and a directory (size + mtime as the validator).
  for (const source of [http, new DirSource(dir)]) {
    const first = await source.getIfChanged('channels/stable.json', 1024, null);
    t.true(first.changed);
    if (!first.changed || !first.bytes) return t.fail();
    t.is(first.bytes.toString(), '{"v":1}');
    t.truthy(first.etag);
    const second = await source.getIfChanged('channels/stable.json', 1024, first.etag);
    t.false(second.changed, `${source.location}: unchanged`);
    await writeFile(join(dir, 'channels', 'stable.json'), '{"v":22}');
    await utimes(join(dir, 'channels', 'stable.json'), new Date(), new Date(Date.now() + 5000));
    const third = await source.getIfChanged('channels/stable.json', 1024, first.etag);
    t.true(third.changed && third.bytes?.toString() === '{"v":22}');
    const missing = await source.getIfChanged('channels/nope.json', 1024, null);
    t.true(missing.changed && missing.bytes === null);
    const big = await source.getIfChanged('channels/stable.json', 3, null).catch((e: unknown) => e);
    t.true(isBootosError(big, 'DOCUMENT_TOO_LARGE'));
    await writeFile(join(dir, 'channels', 'stable.json'), '{"v":1}');
  }
});

test('poll delays spread over interval ± jitter', (t) => {
  t.is(pollDelay(1000, 200, () => 0), 800);
  t.is(pollDelay(1000, 200, () => 0.5), 1000);
  t.is(pollDelay(1000, 200, () => 0.999999), 1200);
  const delays = Array.from({ length: 200 }, () => pollDelay(1000, 200));
  t.true(delays.every((d) => d >= 800 && d <= 1200));
  t.true(new Set(delays).size > 50, 'a fleet does not poll in step');
});

async function sampleData(dir: string): Promise<void> {
  await mkdir(join(dir, 'sub', 'deep'), { recursive: true });
  await writeFile(join(dir, 'a'), 'alpha');
  await writeFile(join(dir, 'sub', 'deep', 'b'), Buffer.alloc(100_000, 7), { mode: 0o600 });
  await symlink('sub/deep/b', join(dir, 'link'));
  await chown(join(dir, 'a'), 1000, 1000);
  await chown(join(dir, 'sub'), 1000, 1000);
}

test('snapshot: a whole copy with owners and modes; restore in place (same folder) and by swap', async (t) => {
  const root = await testDir(t);
  const data = join(root, 'data', 'app');
  await mkdir(data, { recursive: true });
  await sampleData(data);
  const before = await dataFingerprint(data);
  const snap = join(root, 'data', '.snapshots', 'app');
  t.is(await takeSnapshot(data, snap), before, 'the snapshot has the same fingerprint');
  t.is((await lstat(join(snap, 'a'))).uid, 1000);
  t.is((await lstat(join(snap, 'sub', 'deep', 'b'))).mode & 0o777, 0o600);
  t.true((await lstat(join(snap, 'link'))).isSymbolicLink());
  t.false((await readdir(join(root, 'data', '.snapshots'))).some((n) => n.endsWith('.partial')));

  // The new version changes things: the fingerprint tells.
  await writeFile(join(data, 'a'), 'changed');
  await writeFile(join(data, 'new-file'), 'x');
  t.not(await dataFingerprint(data), before);
  const inode = (await lstat(data)).ino;
  await restoreInPlace(snap, data);
  t.is(await dataFingerprint(data), before);
  t.is((await lstat(data)).ino, inode, 'the same folder (a running container keeps it mounted)');
  t.is(await readFile(join(data, 'a'), 'utf8'), 'alpha');

  await writeFile(join(data, 'a'), 'changed again');
  await restoreBySwap(snap, data);
  t.is(await dataFingerprint(data), before);
  t.deepEqual(await readdir(join(root, 'data', '.snapshots')), [], 'the snapshot is consumed');
});

test('restore by swap finishes after a kill between its two renames', async (t) => {
  const root = await testDir(t);
  const data = join(root, 'app');
  await mkdir(data);
  await writeFile(join(data, 'v'), 'old');
  const snap = join(root, '.snapshots', 'app');
  const fp = await takeSnapshot(data, snap);
  await writeFile(join(data, 'v'), 'new, half');
  // Killed after the first rename: /data is gone, the snapshot is still there.
  await rename(data, `${snap}.discard`);
  await restoreBySwap(snap, data);
  t.is(await readFile(join(data, 'v'), 'utf8'), 'old');
  t.is(await dataFingerprint(data), fp);
  // Called again (killed before the journal said it was done): nothing changes.
  await restoreBySwap(snap, data);
  t.is(await readFile(join(data, 'v'), 'utf8'), 'old');
});

test('UPDATE_NO_SPACE when the data root cannot hold the snapshot (a 2 MiB tmpfs)', async (t) => {
  const root = await testDir(t);
  await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', root]);
  t.teardown(() => execFileP('umount', ['-l', root]).catch(() => {}));
  const data = join(root, 'app');
  await mkdir(data);
  await writeFile(join(data, 'small'), Buffer.alloc(100_000));
  const ok = await checkSnapshotSpace(data, join(root, '.snapshots'), 0);
  t.false(ok.reflink, 'tmpfs cannot clone: a real copy is counted');
  t.true(ok.neededBytes >= 100_000);
  await writeFile(join(data, 'big'), Buffer.alloc(1200 * 1024));
  const err = await checkSnapshotSpace(data, join(root, '.snapshots'), 0).catch((e: unknown) => e);
  t.true(isBootosError(err, 'UPDATE_NO_SPACE'), String(err));
  // The reserve counts too.
  const reserved = await checkSnapshotSpace(join(root, 'nothing'), join(root, '.snapshots'), 64 * 1024 * 1024).catch((e: unknown) => e);
  t.true(isBootosError(reserved, 'UPDATE_NO_SPACE'));
});

function entry(step: JournalEntry['step'], snapshot: string | null, fingerprint: string | null): JournalEntry {
  const pin = (n: string) => ({ digest: `sha256:${n.repeat(64)}`, size: 100, version: `${n}.0.0` });
  return { app: 'app', step, from: pin('1'), to: pin('2'), mode: 'signal', snapshot, fingerprint, reason: step === 'rolling-back' ? { code: 'APP_CRASHED', message: 'boom' } : null, at: new Date().toISOString() };
}

test('journal: damaged entries are refused field by field', (t) => {
  const good = entry('snapshotted', '/x', 'sha256:ab');
  t.deepEqual(readJournalEntry(JSON.parse(JSON.stringify(good)), 'j'), good);
  for (const bad of [{ ...good, step: 'halfway' }, { ...good, from: { ...good.from, digest: 'md5:1' } }, { ...good, extra: 1 }, { ...good, reason: { code: 'NOPE', message: '' } }]) {
    const err = (() => {
      try {
        readJournalEntry(bad, 'j');
      } catch (e) {
        return e;
      }
    })();
    t.true(isBootosError(err, 'JSON_INVALID'));
  }
});

test('recovery: before the switch /data goes back to the snapshot; after it the new data stays; rolling back remembers the digest', async (t) => {
  const root = await testDir(t);
  const config = configFromJson({ registry: root, dataRoot: root }, 'test', root);
  const store = new UpdateStore(config.stateDir);
  const data = join(config.dataRoot, 'app');
  const snap = snapshotPathOf(config, 'app');
  const log: string[] = [];
  const prepare = async (step: JournalEntry['step']) => {
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'v'), 'old');
    const fp = await takeSnapshot(data, snap);
    await writeFile(join(data, 'v'), 'new');
    await store.writeJournal(entry(step, snap, fp));
  };

  await prepare('snapshotted');
  let record = await recoverUpdate(store, config, 'app', data, (m) => log.push(m));
  t.is(await readFile(join(data, 'v'), 'utf8'), 'old');
  t.is(record.current?.version, '1.0.0');
  t.deepEqual(record.failed, {}, 'a kill of the agent is not the new version\'s failure');
  t.is(await store.readJournal('app'), null);
  t.deepEqual(await readdir(join(config.dataRoot, '.snapshots')), []);

  await prepare('switched');
  record = await recoverUpdate(store, config, 'app', data, (m) => log.push(m));
  t.is(await readFile(join(data, 'v'), 'utf8'), 'new');
  t.is(record.current?.version, '2.0.0');
  t.deepEqual(await readdir(join(config.dataRoot, '.snapshots')), []);

  await prepare('rolling-back');
  record = await recoverUpdate(store, config, 'app', data, (m) => log.push(m));
  t.is(await readFile(join(data, 'v'), 'utf8'), 'old');
  t.is(record.failed[`sha256:${'2'.repeat(64)}`]?.code, 'APP_CRASHED');
  t.deepEqual((await store.readRecord('app')).failed, record.failed, 'persisted');
  t.true(log.length >= 3);
});
