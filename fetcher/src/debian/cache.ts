// The input cache: downloaded inputs by sha256 (verify, then commit) and their unpacked trees, under
// $XDG_CACHE_HOME/bootos (default ~/.cache/bootos). Nothing unverified is ever visible under blobs/.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BootosError } from '../core/error.js';
import { exists, tempPathFor } from '../core/fs.js';

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'bootos');
}

export function blobPath(sha256: string): string {
  return join(cacheDir(), 'blobs', 'sha256', sha256);
}

export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** The cached blob for a pin, or null when absent. */
export async function cachedBlob(sha256: string): Promise<string | null> {
  const path = blobPath(sha256);
  return (await exists(path)) ? path : null;
}

/** Checks a downloaded file against its pin and moves it into the cache; removes it when it does not match. */
export async function commitBlob(file: string, pin: { sha256: string; size?: number }, what: string): Promise<string> {
  const got = await sha256File(file);
  if (got.sha256 !== pin.sha256 || (pin.size !== undefined && got.size !== pin.size)) {
    await rm(file, { force: true });
    throw new BootosError(
      got.sha256 !== pin.sha256 ? 'DIGEST_MISMATCH' : 'SIZE_MISMATCH',
      `${what}: downloaded sha256 ${got.sha256} (${got.size} bytes), lockfile pins ${pin.sha256}${pin.size !== undefined ? ` (${pin.size} bytes)` : ''}`,
    );
  }
  const path = blobPath(pin.sha256);
  await mkdir(join(path, '..'), { recursive: true });
  await rename(file, path);
  return path;
}

/** A directory computed once from a key (e.g. an unpacked .deb); `make` fills a temp dir that is then renamed. */
export async function cachedDir(kind: string, key: string, make: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(cacheDir(), kind, key);
  if (await exists(dir)) return dir;
  await mkdir(join(dir, '..'), { recursive: true });
  const tmp = tempPathFor(dir);
  try {
    await mkdir(tmp);
    await make(tmp);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (await exists(dir)) return dir; // another build made it meanwhile
    throw err;
  }
  return dir;
}
