// The /usr squashfs and the stored initramfs segment: the same tree gives the same squashfs bytes from two staging
// folders under two umasks and two caches (unsquashfs shows root-owned entries with the tree's modes, times and
// symlinks); a device node is refused; a stored cpio segment after a compressed one starts 4-byte aligned.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cpioHeader } from '../../bootos/src/os/cpio.js';
import { writeInitramfs } from '../../bootos/src/os/initramfs.js';
import { buildSquashfs, squashfsOptions } from '../../bootos/src/os/squashfs.js';
import { Tree } from '../../bootos/src/os/tree.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { tempDir } from '../support/registry.js';

function sampleTree(): Tree {
  const tree = new Tree();
  tree.file('bin/tool', Buffer.from('#!/bin/sh\necho tool\n'), 0o755);
  tree.file('lib/x/libthing.so.1.2', Buffer.alloc(300_000, 7), 0o644);
  tree.symlink('lib/x/libthing.so.1', 'libthing.so.1.2');
  tree.file('share/secret', Buffer.from('s'), 0o600);
  tree.dir('lib/bootos');
  return tree;
}

async function withCache<T>(dir: string, umask: number, fn: () => Promise<T>): Promise<T> {
  const env = process.env.XDG_CACHE_HOME;
  const old = process.umask(umask);
  process.env.XDG_CACHE_HOME = dir;
  try {
    return await fn();
  } finally {
    process.umask(old);
    if (env === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = env;
  }
}

test.serial('the same tree gives a byte-identical squashfs from two caches under two umasks', async (t) => {
  const a = await tempDir('bootos-sq-a-');
  const b = await tempDir('bootos-sq-b-');
  try {
    const options = squashfsOptions('x86_64');
    const first = await withCache(a, 0o022, () => buildSquashfs(sampleTree(), 1_704_067_200, options));
    const second = await withCache(b, 0o077, () => buildSquashfs(sampleTree(), 1_704_067_200, options));
    t.false(first.cached);
    t.false(second.cached);
    t.not(first.path, second.path);
    t.true((await readFile(first.path)).equals(await readFile(second.path)));
    const again = await withCache(a, 0o022, () => buildSquashfs(sampleTree(), 1_704_067_200, options));
    t.true(again.cached);
    t.is(again.path, first.path);

    const listing = execFileSync('unsquashfs', ['-lln', '-UTC', first.path], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    t.regex(listing, /-rwxr-xr-x 0\/0\s+20 2024-01-01 00:00 squashfs-root\/bin\/tool/);
    t.regex(listing, /-rw------- 0\/0\s+1 2024-01-01 00:00 squashfs-root\/share\/secret/);
    t.regex(listing, /lrwxrwxrwx 0\/0\s+\d+ 2024-01-01 00:00 squashfs-root\/lib\/x\/libthing\.so\.1 -> libthing\.so\.1\.2/);
    t.regex(listing, /drwxr-xr-x 0\/0\s+\d+ 2024-01-01 00:00 squashfs-root\/lib\/bootos/);
    t.regex(execFileSync('unsquashfs', ['-s', first.path], { encoding: 'utf8' }), /Compression zstd[\s\S]*Block size 1048576/);

    // A different time is a different image (the time is in it), and a device node is refused.
    const later = await withCache(b, 0o022, () => buildSquashfs(sampleTree(), 1_704_067_201, options));
    t.false((await readFile(later.path)).equals(await readFile(first.path)));
    const dev = sampleTree();
    dev.char('dev/null', 1, 3);
    const err = await t.throwsAsync(withCache(a, 0o022, () => buildSquashfs(dev, 0, options)));
    t.true(isBootosError(err, 'OS_TREE_INVALID'), String(err));
  } finally {
    await Promise.all([rm(a, { recursive: true, force: true }), rm(b, { recursive: true, force: true })]);
  }
});

test.serial('a stored cpio segment after a compressed one starts on a 4-byte boundary, zero-padded', async (t) => {
  const dir = await tempDir('bootos-ir-');
  try {
    const small = new Tree();
    small.file('a', Buffer.from('x'), 0o644);
    const stored = new Tree();
    stored.file('usr.squashfs', Buffer.from('payload'), 0o444);
    const dest = join(dir, 'initramfs');
    await withCache(dir, 0o022, () =>
      writeInitramfs(
        [
          { name: 'small', tree: small, cache: false },
          { name: 'stored', tree: stored, cache: false, compress: false },
        ],
        0,
        dest,
      ),
    );
    const bytes = await readFile(dest);
    const at = bytes.indexOf(Buffer.from('070701'));
    t.true(at > 0);
    t.is(at % 4, 0);
    t.true(bytes.subarray(at).subarray(0, 110).toString('latin1').startsWith('070701'));
    const header = cpioHeader('usr.squashfs', { ino: 1, mode: 0o100444, nlink: 1, mtime: 0, size: 7 });
    t.true(bytes.subarray(at, at + header.length).equals(header));
    // What comes before is the zstd frame (its magic) and at most 3 bytes of zero padding that the kernel skips.
    t.true(bytes.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
