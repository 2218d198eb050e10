// The OS builder's pure parts: the recipe's strict schema, the lockfile guard, the newc cpio writer (checked with
// GNU cpio), the root tree's link check, and ELF stripping (the stripped program must still run).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCpio } from '../../bootos/src/os/cpio.js';
import { modinfo, stripExecutable } from '../../bootos/src/os/elf.js';
import { checkLockCovers, loadLockfile, parseLockfile } from '../../bootos/src/os/lockfile.js';
import { RECIPE_DIR, loadRecipe, parseRecipe } from '../../bootos/src/os/recipe.js';
import { Tree } from '../../bootos/src/os/tree.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { tempDir } from '../support/registry.js';

async function recipeText(): Promise<string> {
  return readFile(join(RECIPE_DIR, 'bootos.yaml'), 'utf8');
}

test('the shipped recipe and lockfile parse, and the lockfile covers the recipe for both arches', async (t) => {
  const recipe = await loadRecipe();
  const lock = await loadLockfile();
  for (const arch of ['x86_64', 'aarch64'] as const) t.notThrows(() => checkLockCovers(recipe, lock, arch));
  t.true(recipe.kernel.modules.includes('virtio_net'));
  t.regex(lock.arches.x86_64.node.version, /^22\./);
});

test('an unknown recipe field is SCHEMA_INVALID naming the field', async (t) => {
  const text = (await recipeText()).replace('node:\n', 'node:\n  flavour: fast\n');
  const err = t.throws(() => parseRecipe(text));
  t.true(isBootosError(err, 'SCHEMA_INVALID'));
  t.regex(err!.message, /node\.flavour: unknown field/);
  const withExtra = `${await recipeText()}\nextras: 1\n`;
  const top = t.throws(() => parseRecipe(withExtra));
  t.regex(top!.message, /extras: unknown field/);
});

test('node.icu is full or small (default full); any other value is SCHEMA_INVALID naming node.icu', async (t) => {
  const text = await recipeText();
  t.is(parseRecipe(text).node.icu, 'small');
  t.is(parseRecipe(text.replace('  icu: small\n', '')).node.icu, 'full');
  t.is(parseRecipe(text.replace('  icu: small\n', '  icu: full\n')).node.icu, 'full');
  for (const bad of ['tiny', 'true', '[small]']) {
    const err = t.throws(() => parseRecipe(text.replace('  icu: small\n', `  icu: ${bad}\n`)));
    t.true(isBootosError(err, 'SCHEMA_INVALID'), String(err));
    t.regex(err!.message, /node\.icu: expected one of full, small/);
  }
});

test('recipe semantic errors name the field', async (t) => {
  const dup = (await recipeText()).replace('  - name: runc\n', '  - name: libc6\n');
  t.regex(t.throws(() => parseRecipe(dup))!.message, /packages\[\d\]\.name: duplicate package: libc6/);
  const mode = (await recipeText()).replace('source: init, mode: "0755"', 'source: init, mode: "755"');
  t.regex(t.throws(() => parseRecipe(mode))!.message, /files\[0\]\.mode/);
  const escape = (await recipeText()).replace('source: init,', 'source: ../../etc/shadow,');
  t.regex(t.throws(() => parseRecipe(escape))!.message, /files\[0\]\.source/);
  t.true(isBootosError(t.throws(() => parseRecipe('kernel: [')), 'YAML_INVALID'));
});

test('a lockfile that misses a package the recipe names is OS_LOCK_STALE (run bootos lock)', async (t) => {
  const recipe = await loadRecipe();
  const lock = await loadLockfile();
  delete lock.arches.aarch64.debian.runc;
  const err = t.throws(() => checkLockCovers(recipe, lock, 'aarch64'));
  t.true(isBootosError(err, 'OS_LOCK_STALE'));
  t.regex(err!.message, /bootos lock/);
  const bad = JSON.parse(await readFile(join(RECIPE_DIR, 'bootos.lock.json'), 'utf8'));
  bad.arches.x86_64.node.sha256 = 'abc';
  t.regex(t.throws(() => parseLockfile(JSON.stringify(bad)))!.message, /arches\.x86_64\.node\.sha256/);
});

test('the cpio writer is deterministic and GNU cpio reads back every entry type', async (t) => {
  const dir = await tempDir('bootos-cpio-');
  const big = join(dir, 'big.bin');
  await writeFile(big, Buffer.alloc(3 * 1024 * 1024 + 3, 7)); // several chunks and an odd size
  const tree = new Tree();
  tree.file('usr/bin/tool', Buffer.from('#!/bin/sh\necho hi\n'), 0o755);
  tree.file('data/big.bin', big);
  tree.symlink('bin/sh', 'busybox');
  tree.file('bin/busybox', Buffer.from('x'), 0o755);
  tree.dir('tmp', 0o1777);
  tree.char('dev/console', 5, 1);
  const archive = async () => {
    const chunks: Buffer[] = [];
    await writeCpio(tree, 1_700_000_000, (c) => void chunks.push(c));
    return Buffer.concat(chunks);
  };
  const a = await archive();
  const b = await archive();
  t.true(a.equals(b));
  t.is(a.length % 4, 0);
  const listing = execFileSync('cpio', ['-t', '-v', '--quiet'], { input: a }).toString();
  t.regex(listing, /^crw------- +1 root +root +5, +1 .*dev\/console$/m);
  t.regex(listing, /^drwxrwxrwt .* tmp$/m);
  t.regex(listing, /Nov 14 +2023 bin\/sh -> busybox$/m);
  // Parents come before children.
  const names = execFileSync('cpio', ['-t', '--quiet'], { input: a }).toString().trim().split('\n');
  t.true(names.indexOf('usr') < names.indexOf('usr/bin') && names.indexOf('usr/bin') < names.indexOf('usr/bin/tool'));
  const out = join(dir, 'x');
  await mkdir(out);
  execFileSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames', '--nonmatching', 'dev/console'], { input: a, cwd: out });
  t.deepEqual(await readFile(join(out, 'data/big.bin')), await readFile(big));
  t.is((await stat(join(out, 'usr/bin/tool'))).mode & 0o777, 0o755);
  t.is(await readlink(join(out, 'bin/sh')), 'busybox');
});

test('the tree refuses paths outside the root, duplicates and dangling links', (t) => {
  const tree = new Tree();
  t.true(isBootosError(t.throws(() => tree.file('../etc/passwd', Buffer.from(''))), 'OS_TREE_INVALID'));
  tree.file('lib/x86_64-linux-gnu/libc.so.6', Buffer.from(''));
  t.true(isBootosError(t.throws(() => tree.file('lib/x86_64-linux-gnu/libc.so.6', Buffer.from(''))), 'OS_TREE_INVALID'));
  tree.symlink('lib64/ld.so', '/lib/x86_64-linux-gnu/libc.so.6');
  tree.symlink('sbin', 'bin');
  tree.symlink('bin/sh', '../../../bin/busybox'); // "/.." is "/"
  tree.file('bin/busybox', Buffer.from(''));
  t.notThrows(() => tree.checkLinks());
  t.is(tree.resolve('sbin/sh'), 'bin/busybox');
  tree.symlink('lib/missing.so', 'nothing-here.so');
  t.true(isBootosError(t.throws(() => tree.checkLinks()), 'OS_TREE_INVALID'));
});

test('stripping an executable keeps it runnable and drops its section headers', async (t) => {
  const original = await readFile(process.execPath);
  const stripped = stripExecutable(original, 'node');
  t.true(stripped.length <= original.length);
  t.is(stripped.readUInt16LE(0x3c), 0);
  const dir = await tempDir('bootos-strip-');
  const path = join(dir, 'node');
  await writeFile(path, stripped);
  await chmod(path, 0o755);
  t.is(execFileSync(path, ['-p', '6 * 7']).toString().trim(), '42');
  t.true(isBootosError(t.throws(() => stripExecutable(Buffer.from('not elf'), 'x')), 'OS_TREE_INVALID'));
  t.true(isBootosError(t.throws(() => modinfo(stripped, 'node')), 'OS_TREE_INVALID'));
});
