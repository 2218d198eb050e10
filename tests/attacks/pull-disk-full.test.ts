// Proves: a store that fills up during a pull (a 2 MiB tmpfs, a validly signed 4 MiB layer) fails with NO_SPACE,
// a code of its own instead of a raw ENOSPC, and leaves no root, staging directory or partial download.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTar } from '../support/make-tar.js';

test('a full store during a pull is NO_SPACE and nothing is left', async (t) => {
  let store = '';
  const run = await pullArchive((sandbox) => {
    store = sandbox.storeDir;
    mkdirSync(store, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', store]);
    return [gzipSync(makeTar([{ path: 'app/noise', body: randomBytes(4 * 1024 * 1024) }]))];
  });
  try {
    await assertRefused(t, run, 'NO_SPACE');
    t.regex((run.error as Error).message, /disk is full/);
  } finally {
    execFileSync('umount', [store]);
    await run.cleanup();
  }
});
