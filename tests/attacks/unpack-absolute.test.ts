// Proves: an entry with an absolute path is refused (UNPACK_ABSOLUTE_PATH), even when it names a real file
// outside the store; that file is unchanged and nothing is left behind.
import test from 'ava';
import { existsSync } from 'node:fs';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

test('refuses an absolute path to a real file outside the store', async (t) => {
  const run = await pullArchive((sandbox) => [makeTarGz([{ path: 'app/ok', body: 'ok' }, { path: sandbox.victim, body: 'owned\n' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_ABSOLUTE_PATH');
  } finally {
    await run.cleanup();
  }
});

test('refuses an absolute path to a new file', async (t) => {
  const target = `/tmp/bootos-absolute-attack-${process.pid}.txt`;
  const run = await pullArchive([makeTarGz([{ path: target, body: 'owned\n' }])]);
  try {
    await assertRefused(t, run, 'UNPACK_ABSOLUTE_PATH');
    t.false(existsSync(target));
  } finally {
    await run.cleanup();
  }
});
