// Proves: device nodes (character and block) and FIFOs are refused (UNPACK_SPECIAL_FILE), and entry types the
// unpacker does not know (e.g. GNU sparse 'S', or a made-up flag) are refused (UNPACK_ENTRY_TYPE).
import test from 'ava';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

for (const type of ['char', 'block', 'fifo'] as const) {
  test(`refuses a ${type} entry`, async (t) => {
    const run = await pullArchive([makeTarGz([{ path: 'app/ok', body: 'ok' }, { path: 'dev/sda', type, mode: 0o666 }])]);
    try {
      await assertRefused(t, run, 'UNPACK_SPECIAL_FILE');
    } finally {
      await run.cleanup();
    }
  });
}

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
