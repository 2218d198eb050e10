// Written layers whose entries come only from the input cache (the unpacked .debs of a `debian:` layer, cached by
// package sha256) are a pure function of those entries, the epoch and the layer writer's format: the blob is kept
// in the input cache under the hash of all three, so publishing again (the demo at every run, the tests, both
// platforms of every image) copies it instead of compressing tens of MB again. The entries are computed every time
// (cheap: a walk of unpacked trees), so a change in what goes into the layer is a change of key by itself; only a
// change of the bytes the layer writer makes from the same entries needs LAYER_FORMAT bumped.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { errnoCode } from '../core/error.js';
import { tempPathFor, writeFileAtomic } from '../core/fs.js';
import { cacheDir, cachedBlob, commitBlob } from '../debian/cache.js';
import { blobPath } from '../formats/oci.js';
import { LAYER_FORMAT, writeLayer, type LayerEntry, type WrittenLayer } from './layer-writer.js';
import { commitBlobFile } from './layout.js';

/** Set (to anything) to write every layer afresh, e.g. to check that the cache gives the same bytes. */
export const NO_LAYER_CACHE_ENV = 'BOOTOS_NO_LAYER_CACHE';

/** `entries` (every source under the input cache) as a committed blob of the registry directory. */
export async function writeCachedLayer(entries: LayerEntry[], registryDir: string, epoch: number): Promise<{ digest: string; size: number }> {
  const key = layerKey(entries, epoch);
  const index = join(cacheDir(), 'layers', `${key}.json`);
  if (!process.env[NO_LAYER_CACHE_ENV]) {
    const hit = await readHit(index);
    const cached = hit && (await cachedBlob(hit.digest.slice('sha256:'.length)));
    if (hit && cached) {
      const target = join(registryDir, blobPath(hit.digest));
      const tmp = tempPathFor(target);
      await copyFile(cached, tmp);
      await commitBlobFile(registryDir, tmp, hit.digest);
      return hit;
    }
  }
  const written: WrittenLayer = await writeLayer(entries, join(registryDir, 'blobs', 'sha256'), epoch);
  await commitBlobFile(registryDir, written.path, written.digest);
  const layer = { digest: written.digest, size: written.size };
  // Into the input cache: a copy, checked against its digest on the way in as every cached input is.
  const copy = tempPathFor(join(cacheDir(), 'layers', key));
  await mkdir(join(cacheDir(), 'layers'), { recursive: true });
  try {
    await copyFile(join(registryDir, blobPath(layer.digest)), copy);
    await commitBlob(copy, { sha256: layer.digest.slice('sha256:'.length), size: layer.size }, `layer ${layer.digest}`);
    await writeFileAtomic(index, JSON.stringify(layer));
  } catch (err) {
    await rm(copy, { force: true });
    throw err;
  }
  return layer;
}

function layerKey(entries: LayerEntry[], epoch: number): string {
  const base = cacheDir();
  const hash = createHash('sha256').update(JSON.stringify({ format: LAYER_FORMAT, epoch }));
  for (const e of entries) hash.update(`\n${JSON.stringify(e.type === 'file' ? { ...e, source: relative(base, e.source) } : e)}`);
  return hash.digest('hex');
}

async function readHit(index: string): Promise<{ digest: string; size: number } | null> {
  try {
    const hit = JSON.parse(await readFile(index, 'utf8')) as { digest?: unknown; size?: unknown };
    return typeof hit.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(hit.digest) && typeof hit.size === 'number' ? { digest: hit.digest, size: hit.size } : null;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || err instanceof SyntaxError) return null;
    throw err;
  }
}
