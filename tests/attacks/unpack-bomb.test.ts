// Proves: a decompression bomb (a small layer that unpacks to more than maxUnpackedBytes) is refused
// (UNPACK_TOO_LARGE) from the tar headers, before its content is written.
import test from 'ava';
import { gzipSync } from 'node:zlib';
import { assertRefused, pullArchive } from '../support/attack.js';
import { makeTar } from '../support/make-tar.js';

test('refuses a layer that unpacks past the byte limit', async (t) => {
  // 64 MiB of zeros gzip to about 64 KiB.
  const tar = makeTar([{ path: 'app/zeros', body: Buffer.alloc(64 * 1024 * 1024) }]);
  const layer = gzipSync(tar, { level: 9 });
  t.true(layer.length < 256 * 1024);
  const run = await pullArchive([layer], { limits: { maxUnpackedBytes: 16 * 1024 * 1024 } });
  try {
    await assertRefused(t, run, 'UNPACK_TOO_LARGE');
  } finally {
    await run.cleanup();
  }
});

test('the limit is summed over files', async (t) => {
  const files = Array.from({ length: 8 }, (_, i) => ({ path: `app/f${i}`, body: Buffer.alloc(1024 * 1024) }));
  const run = await pullArchive([gzipSync(makeTar(files))], { limits: { maxUnpackedBytes: 5 * 1024 * 1024 } });
  try {
    await assertRefused(t, run, 'UNPACK_TOO_LARGE');
  } finally {
    await run.cleanup();
  }
});
