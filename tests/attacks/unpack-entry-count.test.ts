// Proves: an archive with more entries than maxEntries is refused (UNPACK_TOO_MANY_ENTRIES) as soon as the count
// is passed, and what was already extracted is removed with the staging root.
import test from 'ava';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

test('refuses more entries than the limit', async (t) => {
  const entries = Array.from({ length: 300 }, (_, i) => ({ path: `app/f${i}`, body: '' }));
  const run = await pullArchive([makeTarGz(entries)], { limits: { maxEntries: 200 } });
  try {
    await assertRefused(t, run, 'UNPACK_TOO_MANY_ENTRIES');
  } finally {
    await run.cleanup();
  }
});

test('counts entries across layers', async (t) => {
  const layer = (n: number) => makeTarGz(Array.from({ length: 120 }, (_, i) => ({ path: `l${n}/f${i}`, body: '' })));
  const run = await pullArchive([layer(1), layer(2)], { limits: { maxEntries: 200 } });
  try {
    t.is((run.error as { code?: string }).code, 'UNPACK_TOO_MANY_ENTRIES');
    t.deepEqual([...run.after], [...run.before]);
  } finally {
    await run.cleanup();
  }
});
