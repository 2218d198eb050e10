// Proves: a decompression bomb (a small layer that unpacks to more than maxUnpackedBytes) is refused
// (UNPACK_TOO_LARGE) from the tar headers, before its content is written; and, with a device's default limits, a layer
// whose content is far more than its compressed bytes can honestly hold (maxCompressionRatio) is refused the same way.
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

/** A gzip layer holding one file of `bytes` zeros, made as a stream (the tar is never held in memory). */
async function zeroBomb(bytes: number): Promise<Buffer> {
  const { pack } = await import('tar-stream');
  const { createGzip } = await import('node:zlib');
  const tar = pack();
  const gzip = createGzip({ level: 1 });
  const out: Buffer[] = [];
  gzip.on('data', (d: Buffer) => out.push(d));
  const done = new Promise((r) => gzip.on('end', r));
  tar.pipe(gzip);
  const entry = tar.entry({ name: 'app/zeros', size: bytes, mode: 0o644 });
  const chunk = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!entry.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise<void>((r) => entry.once('drain', () => r()));
  }
  entry.end(() => {});
  tar.finalize();
  await done;
  return Buffer.concat(out);
}

test('with the default limits, a validly signed layer of 1 GiB of zeros (about 4 MiB of gzip) is refused by its ratio, nothing written', async (t) => {
  const layer = await zeroBomb(1024 ** 3);
  t.true(layer.length < 8 * 1024 * 1024, `${layer.length} bytes of gzip`);
  const run = await pullArchive([layer]); // no limits given: the defaults a device runs with
  try {
    await assertRefused(t, run, 'UNPACK_TOO_LARGE');
    t.regex((run.error as Error).message, /times its \d+ compressed bytes/);
  } finally {
    await run.cleanup();
  }
});
