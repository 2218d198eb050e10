// Proves: nothing is ever written through a symlink: an entry whose parent path is a link (to a directory inside
// or outside the root) is refused (UNPACK_THROUGH_SYMLINK), and the file the link leads to is unchanged.
import test from 'ava';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

test('refuses a file written through a symlinked directory inside the root', async (t) => {
  const run = await pullArchive([
    makeTarGz([
      { path: 'etc', type: 'dir' },
      { path: 'app/conf', type: 'symlink', linkname: '../etc' },
      { path: 'app/conf/passwd', body: 'root::0:0::/:/bin/sh\n' },
    ]),
  ]);
  try {
    await assertRefused(t, run, 'UNPACK_THROUGH_SYMLINK');
  } finally {
    await run.cleanup();
  }
});

test('refuses a write through a symlink across layers', async (t) => {
  const run = await pullArchive([
    makeTarGz([{ path: 'app', type: 'dir' }, { path: 'app/data', type: 'symlink', linkname: '/tmp' }]),
    makeTarGz([{ path: 'app/data/planted', body: 'owned\n' }]),
  ]);
  try {
    t.truthy(run.error);
    t.is((run.error as { code?: string }).code, 'UNPACK_THROUGH_SYMLINK');
    t.deepEqual([...run.after], [...run.before]);
  } finally {
    await run.cleanup();
  }
});

test('refuses a file whose parent is a regular file', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: 'app', body: 'a file' }, { path: 'app/x', body: 'y' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_NOT_A_DIRECTORY');
  } finally {
    await run.cleanup();
  }
});
