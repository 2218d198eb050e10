// The apps' /data volumes (bootos/src/agent/runtime/data-volume.ts) with the real mkfs.ext4, fallocate and loop
// mounts (as root): made preallocated at the size asked for, mounted once, a plain folder of an older agent copied in,
// DATA_FULL when the data root would lose its reserve, DATA_VOLUME_FAILED without mkfs.ext4, links refused.
import test from 'ava';
import { chown, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { isMountPoint } from '../../fetcher/src/core/fs.js';
import { DataVolumes } from '../../bootos/src/agent/runtime/data-volume.js';
import { testDir } from '../support/registry.js';

const MiB = 1024 * 1024;

function volumes(dataRoot: string, reserveBytes = 0): { v: DataVolumes; steps: string[] } {
  const steps: string[] = [];
  return { v: new DataVolumes({ dataRoot, reserveBytes, log: (app, m) => steps.push(`${app}: ${m}`) }), steps };
}

test('a volume is made preallocated at its size, mounted once, and unmounted', async (t) => {
  const root = await testDir(t, 'bootos-vol-');
  const { v, steps } = volumes(root);
  const [a, b] = await Promise.all([v.ensure('app', 8 * MiB), v.ensure('app', 8 * MiB)]);
  t.is(a, join(root, 'app'));
  t.is(b, a, 'concurrent starts share one mount');
  try {
    t.true(await isMountPoint(a));
    const file = await stat(join(root, '.volumes', 'app.ext4'));
    t.is(file.size, 8 * MiB);
    t.true(file.blocks * 512 >= 8 * MiB, 'preallocated on a disk');
    t.deepEqual(await readdir(a), [], 'no lost+found');
    t.is(steps.filter((s) => /made in/.test(s)).length, 1);
    await v.ensure('app', 8 * MiB);
    t.is((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.split(' ')[4] === a).length, 1, 'mounted once');
  } finally {
    await v.unmountAll(() => {});
  }
  t.false(await isMountPoint(a));
  // Another agent (a restart) mounts the same volume again; a mount left behind is taken over, not stacked.
  const again = volumes(root).v;
  await again.ensure('app', 8 * MiB);
  const third = volumes(root);
  await third.v.ensure('app', 8 * MiB);
  t.true(third.steps.some((s) => /taken over/.test(s)));
  await third.v.unmountAll(() => {});
  t.false(await isMountPoint(a));
});

test("an older agent's plain /data folder is copied into the new volume, owners kept", async (t) => {
  const root = await testDir(t, 'bootos-vol-');
  const dir = join(root, 'app');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'sub', 'notes.txt'), 'kept\n');
  await symlink('/etc/passwd', join(dir, 'link'));
  await chown(join(dir, 'sub', 'notes.txt'), 1000, 1000);
  const { v } = volumes(root);
  await v.ensure('app', 8 * MiB);
  try {
    t.is(await readFile(join(dir, 'sub', 'notes.txt'), 'utf8'), 'kept\n');
    t.is((await stat(join(dir, 'sub', 'notes.txt'))).uid, 1000);
    t.true((await lstat(join(dir, 'link'))).isSymbolicLink(), 'a link stays a link');
  } finally {
    await v.unmountAll(() => {});
  }
  t.deepEqual(await readdir(dir), [], 'the plain folder was emptied once the volume held its content');
});

test('DATA_FULL when the data root would keep less than the reserve; nothing is left', async (t) => {
  const root = await testDir(t, 'bootos-vol-');
  const { v } = volumes(root, 1024 ** 5); // a reserve no disk has
  const err = await t.throwsAsync(v.ensure('app', 8 * MiB));
  t.true(isBootosError(err, 'DATA_FULL'), String(err));
  t.regex(err!.message, /dataReserveBytes/);
  t.deepEqual(await readdir(join(root, '.volumes')), []);
});

// Serial (ava runs serial tests before the others): it changes PATH for the whole process.
test.serial('DATA_VOLUME_FAILED without mkfs.ext4; a symlink as the data folder is refused', async (t) => {
  const root = await testDir(t, 'bootos-vol-');
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const err = await t.throwsAsync(volumes(root).v.ensure('app', 8 * MiB));
    t.true(isBootosError(err, 'DATA_VOLUME_FAILED'), String(err));
  } finally {
    process.env.PATH = path;
  }
  t.deepEqual(await readdir(join(root, '.volumes')), [], 'no half-made volume');
  await symlink('/tmp', join(root, 'evil'));
  const err = await t.throwsAsync(volumes(root).v.ensure('evil', 8 * MiB));
  t.true(isBootosError(err, 'DATA_VOLUME_FAILED'), String(err));
  t.regex(err!.message, /symlink/);
});
