// Proves the store's verify-then-commit rule: bytes enter blobs/sha256 only when size and digest match (read-only,
// under their digest); too many bytes, too few or wrong bytes leave nothing; verify() finds a blob that rotted on
// disk; a damaged copy is never handed to a consumer.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { Store } from '../../fetcher/src/store/store.js';
import { tempDir } from '../support/registry.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function* chunksOf(bytes: Buffer, size = 1000): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function withStore(run: (store: Store, dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir('bootos-store-');
  try {
    await run(new Store(dir), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a verified blob is committed read-only under its digest', (t) =>
  withStore(async (store) => {
    const bytes = randomBytes(50_000);
    const path = await store.writeBlob({ digest: digestOf(bytes), size: bytes.length }, chunksOf(bytes));
    t.is(path, store.blobFile(digestOf(bytes)));
    t.is((await stat(path)).mode & 0o777, 0o444);
    t.deepEqual(await store.readBlob(digestOf(bytes), bytes.length), bytes);
  }));

for (const [title, code, mutate] of [
  ['wrong bytes', 'DIGEST_MISMATCH', (b: Buffer) => Buffer.concat([b.subarray(0, -1), Buffer.from([b.at(-1)! ^ 1])])],
  ['too many bytes', 'SIZE_MISMATCH', (b: Buffer) => Buffer.concat([b, Buffer.from('x')])],
  ['too few bytes', 'SIZE_MISMATCH', (b: Buffer) => b.subarray(0, -10)],
] as const) {
  test(`${title}: refused with ${code}, nothing left`, (t) =>
    withStore(async (store, dir) => {
      const bytes = randomBytes(20_000);
      const err = await t.throwsAsync(store.writeBlob({ digest: digestOf(bytes), size: bytes.length }, chunksOf(mutate(bytes))));
      t.true(isBootosError(err, code), String(err));
      t.deepEqual(await readdir(join(dir, 'blobs/sha256')), []);
      t.deepEqual(await readdir(join(dir, 'tmp')), []);
    }));
}

test('verify() re-hashes and finds a blob that changed on disk; remove drops it', (t) =>
  withStore(async (store) => {
    const good = randomBytes(3000);
    const bad = randomBytes(3000);
    await store.writeBlob({ digest: digestOf(good), size: good.length }, chunksOf(good));
    const badPath = await store.writeBlob({ digest: digestOf(bad), size: bad.length }, chunksOf(bad));
    await chmod(badPath, 0o644);
    await writeFile(badPath, Buffer.concat([bad.subarray(0, 100), Buffer.from('rot'), bad.subarray(103)]));
    t.deepEqual(await store.verify(), { checked: 2, bad: [digestOf(bad)] });
    t.deepEqual(await store.verify({ remove: true }), { checked: 2, bad: [digestOf(bad)] });
    t.deepEqual(await store.verify(), { checked: 1, bad: [] });
  }));

test('a damaged committed copy is never handed out', (t) =>
  withStore(async (store) => {
    const bytes = randomBytes(3000);
    const path = await store.writeBlob({ digest: digestOf(bytes), size: bytes.length }, chunksOf(bytes));
    await chmod(path, 0o644);
    await writeFile(path, randomBytes(3000));
    t.is(await store.readBlob(digestOf(bytes), 10_000), null);
    t.false(await store.hasBlob(digestOf(bytes)));
  }));

test('a document fetched through cached() is written via tmp/: only digests ever appear in blobs/, even mid-write', (t) =>
  withStore(async (store, dir) => {
    const doc = Buffer.from(JSON.stringify({ schemaVersion: 2, padding: 'x'.repeat(10_000) }));
    const hex = digestOf(doc).slice('sha256:'.length);
    const source = {
      location: 'test',
      get: async () => doc,
      blob: () => {
        throw new Error('not used');
      },
    };
    await store.verify(); // creates the store's folders
    // Every name that shows up in blobs/sha256 while the document is written (a SIGKILL could leave any of them).
    const seen = new Set<string>();
    const { watch } = await import('node:fs');
    const watcher = watch(join(dir, 'blobs', 'sha256'), (_event, name) => name && seen.add(String(name)));
    try {
      t.deepEqual(await store.cached(source as never).get(`blobs/sha256/${hex}`, 1 << 20), doc);
      await new Promise((r) => setTimeout(r, 200)); // inotify events arrive asynchronously
    } finally {
      watcher.close();
    }
    t.deepEqual([...seen], [hex], 'no temp file beside the blobs');
    t.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [hex]);
    t.deepEqual((await store.verify()).bad, []);
    // What a killed writer leaves in tmp/ is gc's: a dead process's document temp is removed.
    await writeFile(join(dir, 'tmp', `doc-${hex}.4194304999-abcd`), doc);
    await store.gc([]);
    t.deepEqual(await readdir(join(dir, 'tmp')), []);
  }));

test('a committed blob changed on disk: a stream from it fails with STORE_INVALID and the copy is removed', (t) =>
  withStore(async (store) => {
    const bytes = randomBytes(300_000);
    const descriptor = { digest: digestOf(bytes), size: bytes.length };
    const path = await store.writeBlob(descriptor, chunksOf(bytes));
    await chmod(path, 0o644);
    await writeFile(path, Buffer.concat([bytes.subarray(0, 1000), Buffer.from('rot'), bytes.subarray(1003)]));
    const unused = {
      location: 'test',
      get: async () => null,
      blob: () => {
        throw new Error('a committed blob is read from the store, not the source');
      },
    };
    const stream = store.blobStream(unused as never, descriptor);
    const err = await t.throwsAsync(async () => {
      for await (const _ of stream.chunks);
    });
    await stream.settle('abort');
    t.true(isBootosError(err, 'STORE_INVALID'), String(err));
    t.false(await store.hasBlob(descriptor.digest), 'the damaged copy is gone');
  }));
