// Proves: device nodes (character and block) and FIFOs are never created: skipped and reported in the pull's
// result (images built from a distribution root often carry a few in dev/), even where the path is hostile; and
// entry types the unpacker does not know (e.g. GNU sparse 'S', or a made-up flag) are refused (UNPACK_ENTRY_TYPE).
import test from 'ava';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

for (const type of ['char', 'block', 'fifo'] as const) {
  test(`skips a ${type} entry: never created, reported`, async (t) => {
    const run = await pullArchive([makeTarGz([{ path: 'app/ok', body: 'ok' }, { path: 'dev/sda', type, mode: 0o666 }])]);
    try {
      t.falsy(run.error);
      const root = run.result!.rootfs;
      t.true((await lstat(join(root, 'app/ok'))).isFile());
      await t.throwsAsync(lstat(join(root, 'dev/sda')), { code: 'ENOENT' });
      t.deepEqual(run.result!.skipped, [`dev/sda (${{ char: 'character-device', block: 'block-device', fifo: 'fifo' }[type]})`]);
    } finally {
      await run.cleanup();
    }
  });
}

test('a device node on a hostile path is refused for its path, not skipped', async (t) => {
  const run = await pullArchive([makeTarGz([{ path: '../dev/sda', type: 'block', mode: 0o666 }])]);
  try {
    await assertRefused(t, run, 'UNPACK_PATH_TRAVERSAL');
  } finally {
    await run.cleanup();
  }
});

for (const flag of ['S', 'Z']) {
  test(`refuses the unknown entry type ${flag}`, async (t) => {
    const run = await pullArchive([makeTarGz([{ path: 'app/odd', type: flag, body: 'x' }])]);
    try {
      await assertRefused(t, run, 'UNPACK_ENTRY_TYPE');
    } finally {
      await run.cleanup();
    }
  });
}
