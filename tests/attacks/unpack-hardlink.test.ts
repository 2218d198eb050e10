// Proves: a hardlink may only point at a regular file this archive already extracted inside the root. A target
// outside (absolute or with "..", or reached through a symlink) is UNPACK_HARDLINK_ESCAPE; a target not yet
// extracted (or not a regular file) is UNPACK_HARDLINK_MISSING. The victim file outside keeps its content and
// its link count.
import test from 'ava';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

test('refuses a hardlink to an absolute path outside the root', async (t) => {
  const run = await pullArchive((sandbox) => [makeTarGz([{ path: 'app/pw', type: 'link', linkname: sandbox.victim }, { path: 'app/pw', body: 'owned\n' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_HARDLINK_ESCAPE');
    t.is((await stat(run.sandbox.victim)).nlink, 1);
  } finally {
    await run.cleanup();
  }
});

test('refuses a hardlink that climbs out with ..', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: 'app/pw', type: 'link', linkname: '../../../../outside/victim.txt' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_HARDLINK_ESCAPE');
  } finally {
    await run.cleanup();
  }
});

test('refuses a hardlink through a symlink', async (t) => {
  const run = await pullArchive([
    makeTarGz([
      { path: 'out', type: 'symlink', linkname: '/' },
      { path: 'app/pw', type: 'link', linkname: 'out/etc/passwd' },
    ]),
  ]);
  try {
    await assertRefused(t, run, 'UNPACK_HARDLINK_ESCAPE');
  } finally {
    await run.cleanup();
  }
});

test('refuses a hardlink to an entry not yet extracted', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: 'app/early', type: 'link', linkname: 'app/late' }, { path: 'app/late', body: 'x' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_HARDLINK_MISSING');
  } finally {
    await run.cleanup();
  }
});

test('refuses a hardlink to a directory or a symlink', async (t) => {
  for (const target of [{ path: 'app/d', type: 'dir' }, { path: 'app/s', type: 'symlink', linkname: 'x' }]) {
    const run = await pullArchive([makeTarGz([target, { path: 'app/h', type: 'link', linkname: target.path }])]);
    try {
      await assertRefused(t, run, 'UNPACK_HARDLINK_MISSING');
    } finally {
      await run.cleanup();
    }
  }
});

test('keeps a hardlink to an extracted file', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: 'app/a', body: 'same' }, { path: 'app/b', type: 'link', linkname: 'app/a' }])]);
  try {
    t.is(run.error, undefined);
    t.is(await readFile(join(run.result!.rootfs, 'app/b'), 'utf8'), 'same');
    t.is((await stat(join(run.result!.rootfs, 'app/a'))).nlink, 2);
  } finally {
    await run.cleanup();
  }
});
