// Proves: a symlink whose target leaves the root is refused (UNPACK_SYMLINK_ESCAPE): relative targets climbing
// above the root, chains through other links, and a link made harmless-looking first and turned outward by a later
// entry (a → "b/..", then b → "."). Absolute targets resolve inside the root, as the container sees them.
import test from 'ava';
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz, type TarEntry } from '../support/make-tar.js';

const cases: [string, TarEntry[]][] = [
  ['a relative target above the root', [{ path: 'app/out', type: 'symlink', linkname: '../../outside' }]],
  ['a target that climbs from a nested directory', [{ path: 'app/x/y/out', type: 'symlink', linkname: '../../../../../outside/victim.txt' }]],
  ['a chain through another link', [
    { path: 'up', type: 'symlink', linkname: '.' },
    { path: 'app/out', type: 'symlink', linkname: '../up/../outside' },
  ]],
  ['an absolute target that climbs with ..', [{ path: 'app/out', type: 'symlink', linkname: '/../outside' }]],
  ['a link turned outward by a later entry', [
    // When a is written, b does not exist and "b/.." is the root; then b → "." makes a point at the root's parent.
    { path: 'a', type: 'symlink', linkname: 'b/..' },
    { path: 'b', type: 'symlink', linkname: '.' },
  ]],
  ['a symlink loop', [
    { path: 'l1', type: 'symlink', linkname: 'l2' },
    { path: 'l2', type: 'symlink', linkname: 'l1/x' },
  ]],
];

for (const [title, entries] of cases) {
  test(`refuses ${title}`, async (t) => {
    const run = await pullArchive([makeTarGz([{ path: 'app/ok', body: 'ok' }, ...entries])]);
    try {
      await assertRefused(t, run, 'UNPACK_SYMLINK_ESCAPE');
    } finally {
      await run.cleanup();
    }
  });
}

test('keeps links that stay inside, absolute ones included', async (t) => {
  const run = await pullArchive([
    makeTarGz([
      { path: 'usr/bin/tool', body: '#!/bin/sh\n', mode: 0o755 },
      { path: 'bin', type: 'symlink', linkname: 'usr/bin' },
      { path: 'app/tool', type: 'symlink', linkname: '/usr/bin/tool' },
      { path: 'app/sibling', type: 'symlink', linkname: '../usr/bin/tool' },
    ]),
  ]);
  try {
    t.is(run.error, undefined);
    t.is(await readlink(join(run.result!.rootfs, 'app/tool')), '/usr/bin/tool');
    t.is(await readlink(join(run.result!.rootfs, 'bin')), 'usr/bin');
  } finally {
    await run.cleanup();
  }
});
