// Proves: a validly signed layer whose bytes are not a gzip stream, or a gzip stream of something that is not a tar
// archive, is refused with UNPACK_ARCHIVE_INVALID; no root, no staging directory and no layer blob is left behind.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTar } from '../support/make-tar.js';

const cases: [string, () => Buffer][] = [
  ['random bytes instead of gzip', () => randomBytes(4096)],
  ['a gzip stream of random bytes (not tar)', () => gzipSync(randomBytes(4096))],
  ['a gzip stream cut in the middle', () => gzipSync(makeTar([{ path: 'app/a', body: randomBytes(64 * 1024) }])).subarray(0, 2000)],
  ['a tar header whose checksum is wrong', () => {
    const tar = makeTar([{ path: 'app/a', body: 'hello' }]);
    tar[148] = 0x37; // first byte of the checksum field
    return gzipSync(tar);
  }],
];

for (const [title, layer] of cases) {
  test(`refuses ${title}`, async (t) => {
    const run = await pullArchive([layer()]);
    try {
      await assertRefused(t, run, 'UNPACK_ARCHIVE_INVALID');
    } finally {
      await run.cleanup();
    }
  });
}
