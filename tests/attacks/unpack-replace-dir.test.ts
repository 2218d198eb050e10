// Proves: an entry that would replace an already extracted directory with a symlink, a hardlink or a file is
// refused (UNPACK_REPLACES_DIRECTORY), in the same layer or a later one; the files under the directory are not
// redirected anywhere.
import test from 'ava';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

test('refuses a symlink over an existing directory', async (t) => {
  const run = await pullArchive([
    makeTarGz([
      { path: 'app/lib', type: 'dir' },
      { path: 'app/lib/a.js', body: '1' },
      { path: 'app/lib', type: 'symlink', linkname: '/etc' },
      { path: 'app/lib/b.js', body: '2' },
    ]),
  ]);
  try {
    await assertRefused(t, run, 'UNPACK_REPLACES_DIRECTORY');
  } finally {
    await run.cleanup();
  }
});

test('refuses a hardlink over an existing directory', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: 'app/f', body: 'x' }, { path: 'app/d', type: 'dir' }, { path: 'app/d', type: 'link', linkname: 'app/f' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_REPLACES_DIRECTORY');
  } finally {
    await run.cleanup();
  }
});

test('refuses a link over a directory made by a lower layer', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: 'app/data', type: 'dir' }]), makeTarGz([{ path: 'app/data', type: 'symlink', linkname: '../..' }])]);
  try {
    t.is((run.error as { code?: string }).code, 'UNPACK_REPLACES_DIRECTORY');
    t.deepEqual([...run.after], [...run.before]);
  } finally {
    await run.cleanup();
  }
});
