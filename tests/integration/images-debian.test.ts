// What this file proves, against Debian's archive: publishing an image with `debian:` packages (python-web,
// nginx-static) from two copies of its folder in two places, once from the layer cache and once afresh, gives the
// same digests for both platforms (the packages' layer and the files' layer), the
// layer holds what the app runs (python3 under merged /usr, no docs) and no shell; and a pin that has left the
// archive fails fast with OS_PIN_GONE naming the image's lock and `bootos lock --image DIR`.
import test, { type ExecutionContext } from 'ava';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { publishImage } from '../../fetcher/src/publish/publish.js';
import { NO_LAYER_CACHE_ENV } from '../../fetcher/src/publish/layer-cache.js';
import { IMAGES, testDir } from '../support/registry.js';

async function layerPaths(registry: string, digest: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    out.set(header.name, header.type ?? 'file');
    stream.on('end', next);
    stream.resume();
  });
  const bytes = await readFile(join(registry, blobPath(digest)));
  await new Promise<void>((resolve, reject) => Readable.from(bytes).pipe(createGunzip()).pipe(ex).on('finish', () => resolve()).on('error', reject));
  return out;
}

/**
 * Publishes images/NAME from two copies of its folder in two places, the second without the layer cache (a layer
 * written afresh must be the cached one, byte for byte); returns both results and where the first went.
 */
async function publishTwice(t: ExecutionContext, name: string) {
  const a = join(await testDir(t), 'one', name);
  const b = join(await testDir(t), 'somewhere', 'else', name);
  await cp(join(IMAGES, name), a, { recursive: true });
  await cp(join(IMAGES, name), b, { recursive: true });
  const one = await publishImage(a, join(a, '..', 'registry'));
  process.env[NO_LAYER_CACHE_ENV] = '1';
  const two = await publishImage(b, join(b, '..', 'registry')).finally(() => delete process.env[NO_LAYER_CACHE_ENV]);
  return { one, two, a };
}

test('python-web published from two copies of its folder gives the same digests; its layer runs python, no shell', async (t) => {
  t.timeout(10 * 60_000);
  const { one, two, a } = await publishTwice(t, 'python-web');
  t.is(one.digest, two.digest);
  t.deepEqual(one.layers, two.layers);
  t.is(one.layers.length, 2, 'the packages\' layer, then the files\' layer');
  const paths = await layerPaths(join(a, '..', 'registry'), one.layers[0]!.digest);
  t.is(paths.get('usr/bin/python3'), 'symlink');
  t.is(paths.get('usr/bin/python3.11'), 'file');
  t.is(paths.get('lib64'), 'symlink');
  t.true(paths.has('usr/lib/python3.11/http/server.py'));
  t.true(paths.has('usr/share/doc/python3.11/copyright'));
  t.false([...paths.keys()].some((p) => p.startsWith('usr/share/man/') || p.endsWith('changelog.Debian.gz')));
  t.false(paths.has('usr/bin/sh') || paths.has('usr/bin/dash'), 'no shell unless asked for');
  const files = await layerPaths(join(a, '..', 'registry'), one.layers[1]!.digest);
  t.true(files.has('app/server.py'));
  t.false(files.has('app/image.lock.json'), 'the lock describes the image; it is not in it');
});

test('nginx-static published from two copies of its folder, one without the layer cache: the same index digest, amd64 and arm64', async (t) => {
  t.timeout(10 * 60_000);
  const { one, two } = await publishTwice(t, 'nginx-static');
  t.is(one.digest, two.digest);
  t.deepEqual(one.platforms.map((p) => p.architecture), ['amd64', 'arm64']);
  t.deepEqual(one.platforms, two.platforms);
  t.notDeepEqual(one.platforms[0]!.layers[0], one.platforms[1]!.layers[0], "each platform has its own packages' layer");
  t.deepEqual(one.platforms[0]!.layers[1], one.platforms[1]!.layers[1], "and the same files' layer");
});

test('a pin that left the archive is OS_PIN_GONE naming the lock and `bootos lock --image`, without a long retry', async (t) => {
  t.timeout(3 * 60_000);
  const dir = join(await testDir(t), 'python-web');
  await cp(join(IMAGES, 'python-web'), dir, { recursive: true });
  const lock = JSON.parse(await readFile(join(dir, 'image.lock.json'), 'utf8'));
  const pins = lock.arches.amd64.debian;
  // The first package fetched (sorted by name), so that nothing else is downloaded first.
  const first = Object.keys(pins).sort()[0]!;
  pins[first] = { ...pins[first], version: '0.0.1-gone', sha256: 'f'.repeat(64) };
  await writeFile(join(dir, 'image.lock.json'), JSON.stringify(lock));
  const started = Date.now();
  const err = await t.throwsAsync(publishImage(dir, join(dir, '..', 'registry')));
  t.true(isBootosError(err, 'OS_PIN_GONE'), String(err));
  t.regex(err!.message, new RegExp(`${first} 0\\.0\\.1-gone \\(amd64\\) is pinned in .*image\\.lock\\.json`));
  t.regex(err!.message, /run `bootos lock --image .*python-web`/);
  t.true(Date.now() - started < 60_000, `failed after ${Date.now() - started} ms`);
});
