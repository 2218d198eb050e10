// Proves: gc(keep) removes every root whose manifest is not kept and every blob that no kept root needs, keeps
// everything a kept root needs (index, manifest, config, layers), and clears temp files of dead processes.
import test from 'ava';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pullImage } from '../../fetcher/src/store/pull.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { Store } from '../../fetcher/src/store/store.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { makeTarGz } from '../support/make-tar.js';
import { publishRawImage } from '../support/raw-image.js';
import { makeRegistry, tempDir } from '../support/registry.js';

test('gc keeps what kept roots need and removes the rest', async (t) => {
  const registry = await makeRegistry();
  await publishRawImage(registry.dir, 'other', [makeTarGz([{ path: 'app/x', body: 'other' }])]);
  await registry.sign({ office: ['hello', 'other'] });
  const dir = await tempDir('bootos-store-');
  try {
    const source = new DirSource(registry.dir);
    const channel = (await (await Trust.open({ initialRoot: registry.rootBytes })).fetchChannel(source, 'stable')).signed;
    const store = new Store(dir);
    const hello = await pullImage({ source, store, channel, image: 'hello' });
    const other = await pullImage({ source, store, channel, image: 'other' });
    t.is((await readdir(join(dir, 'blobs/sha256'))).length, 8);
    // A dead process's leftovers (pid 2^22+1 is beyond Linux's pid_max) and this process's own stale partial.
    await writeFile(join(dir, 'tmp', `${'a'.repeat(64)}.4194305-0000.part`), 'partial');
    await mkdir(join(dir, 'tmp', `root-${'b'.repeat(64)}.4194305-0000`));

    const result = await store.gc([hello.manifestDigest]);
    t.is(result.roots, 1);
    t.is(result.blobs, 4);
    t.true(result.bytes > 0);
    t.is(await store.rootOf(other.manifestDigest), null);
    t.is(await store.rootOf(hello.manifestDigest), hello.rootfs);
    const blobs = await readdir(join(dir, 'blobs/sha256'));
    t.is(blobs.length, 4);
    for (const record of await store.records()) {
      t.is(record.manifestDigest, hello.manifestDigest);
      for (const digest of record.blobs) t.true(await store.hasBlob(digest));
    }
    t.deepEqual(await readdir(join(dir, 'tmp')), []);
    t.deepEqual((await store.verify()).bad, []);

    const all = await store.gc([]);
    t.is(all.roots, 1);
    t.is(all.blobs, 4);
    t.deepEqual(await readdir(join(dir, 'blobs/sha256')), []);
    t.deepEqual(await readdir(join(dir, 'roots')), []);
    t.deepEqual(await readdir(join(dir, 'refs')), []);
  } finally {
    await registry.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
