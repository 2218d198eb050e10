// Proves: an entry whose path climbs out with ".." is refused (UNPACK_PATH_TRAVERSAL) before anything is written,
// whether the ".." is leading, in the middle, or hidden in a pax long name; the file it aimed at is unchanged.
import test from 'ava';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

const aims = [
  '../../../outside/victim.txt',
  'app/../../../../outside/victim.txt',
  `app/${'x/'.repeat(60)}${'../'.repeat(65)}outside/victim.txt`,
];

for (const path of aims) {
  test(`refuses ${path.slice(0, 50)}`, async (t) => {
    const run = await pullArchive([makeTarGz([{ path: 'app/ok.txt', body: 'fine' }, { path, body: 'owned\n' }])]);
    try {
      await assertRefused(t, run, 'UNPACK_PATH_TRAVERSAL');
    } finally {
      await run.cleanup();
    }
  });
}
