// images/<name>/image.lock.json: the Debian packages of an image's `debian:` field, with every dependency, pinned by
// exact version and sha256 for each platform. `bootos lock --image DIR` writes it (fetcher/src/debian/lock-image.ts);
// publishing only ever downloads what it pins.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OCI_ARCHES, type OciArch } from '../core/arch.js';
import { BootosError, errnoCode } from '../core/error.js';
import { Reader, parseJson } from '../core/guard.js';
import { DEB_NAME, readDebPins, type DebPin } from './deb-pin.js';

export const IMAGE_LOCK_FILE = 'image.lock.json';

export interface ImageLock {
  lockVersion: 1;
  /** The packages image.yaml asks for, sorted: a lock made for another list is stale. */
  packages: string[];
  /** Per platform: every package of the closure (the asked ones and their dependencies) by name. */
  arches: Record<OciArch, { debian: Record<string, DebPin> }>;
}

/** The command that refreshes the lock of `imageDir`, as an error message names it. */
export function lockCommandFor(imageDir: string): string {
  return `bootos lock --image ${imageDir}`;
}

export function parseImageLock(bytes: Buffer | string, where: string): ImageLock {
  const r = new Reader('SCHEMA_INVALID', where);
  const top = r.object(parseJson(bytes, where), '', ['lockVersion', 'packages', 'arches']);
  r.required(top, 'lockVersion', '', (v, p) => r.integer(v, p, 1, 1));
  const packages = r.required(top, 'packages', '', (v, p) => r.stringArray(v, p));
  packages.forEach((name, i) => DEB_NAME.test(name) || r.fail(`packages[${i}]`, 'not a Debian package name'));
  const arches = r.required(top, 'arches', '', (v, p) => r.object(v, p, OCI_ARCHES));
  const out = {} as ImageLock['arches'];
  for (const arch of OCI_ARCHES) {
    out[arch] = r.required(arches, arch, 'arches', (v, p) => {
      const a = r.object(v, p, ['debian']);
      return { debian: r.required(a, 'debian', p, (x, q) => readDebPins(r, x, q)) };
    });
  }
  return { lockVersion: 1, packages, arches: out };
}

/** Reads `imageDir/image.lock.json`; a missing one is OS_LOCK_STALE naming the command that writes it. */
export async function loadImageLock(imageDir: string): Promise<ImageLock> {
  const path = join(imageDir, IMAGE_LOCK_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('OS_LOCK_STALE', `${path} not found; run \`${lockCommandFor(imageDir)}\``);
    throw err;
  }
  return parseImageLock(bytes, path);
}

/**
 * Checks that the lock was made for exactly the packages image.yaml asks for and pins each of them for `arch`;
 * else OS_LOCK_STALE naming `bootos lock --image DIR`. (Dependencies are apt's business: the lock holds the closure
 * apt computed when it was written.)
 */
export function checkImageLockCovers(lock: ImageLock, packages: readonly string[], arch: OciArch, imageDir: string): void {
  const stale = (what: string): never => {
    throw new BootosError(
      'OS_LOCK_STALE',
      `${join(imageDir, IMAGE_LOCK_FILE)} does not match image.yaml for ${arch}: ${what}; run \`${lockCommandFor(imageDir)}\``,
    );
  };
  const asked = [...packages].sort();
  const locked = [...lock.packages].sort();
  const missing = asked.filter((p) => !locked.includes(p));
  const extra = locked.filter((p) => !asked.includes(p));
  if (missing.length) stale(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not locked`);
  if (extra.length) stale(`the lock was made for ${extra.join(', ')} too, which image.yaml no longer asks for`);
  const pins = lock.arches[arch].debian;
  for (const name of asked) if (!pins[name]) stale(`package ${name} is not pinned`);
}
