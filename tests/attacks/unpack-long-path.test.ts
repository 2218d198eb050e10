// Proves: a path longer than 4096 bytes (here carried in a pax header, as tar tools write long names) is refused
// (UNPACK_PATH_TOO_LONG), so is a link target that long, a single name longer than 255 bytes (NAME_MAX: the
// filesystem's raw ENAMETOOLONG before), and a path deeper than maxPathDepth components (UNPACK_PATH_TOO_DEEP).
import test from 'ava';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

test('refuses a path over 4096 bytes', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: `app/${'n'.repeat(250)}/`.repeat(17) + 'file', body: 'x' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_PATH_TOO_LONG');
  } finally {
    await run.cleanup();
  }
});

test('refuses a file name over 255 bytes with a code, not a raw ENAMETOOLONG', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: `app/${'n'.repeat(300)}`, body: 'x' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_PATH_TOO_LONG');
  } finally {
    await run.cleanup();
  }
});

test('refuses a symlink target over 4096 bytes', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: 'app/l', type: 'symlink', linkname: 'x/'.repeat(2100) }])]);
  try {
    await assertRefused(t, run, 'UNPACK_PATH_TOO_LONG');
  } finally {
    await run.cleanup();
  }
});

test('refuses a path deeper than the limit', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: `${'d/'.repeat(40)}file`, body: 'x' }])], { limits: { maxPathDepth: 32 } });
  try {
    await assertRefused(t, run, 'UNPACK_PATH_TOO_DEEP');
  } finally {
    await run.cleanup();
  }
});
