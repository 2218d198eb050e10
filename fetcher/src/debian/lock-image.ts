// `bootos lock --image DIR`: resolves the `debian:` packages of an image.yaml, with their dependencies, for every
// platform, and writes DIR/image.lock.json (fetcher/src/formats/image-lock.ts). apt works with its own lists and an
// empty status file (apt.ts), so the closure is what an empty system would need, and the host is untouched.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ARCHES, ARCH_TABLE, type OciArch } from '../core/arch.js';
import { BootosError } from '../core/error.js';
import { exists, writeFileAtomic } from '../core/fs.js';
import { IMAGE_LOCK_FILE, type ImageLock } from '../formats/image-lock.js';
import { loadImageSpec } from '../formats/image-spec.js';
import { Apt } from './apt.js';

export interface LockedImage {
  dir: string;
  /** Where the lock was written. */
  path: string;
  lock: ImageLock;
}

/** Locks each image folder (each must have a `debian:` field); apt's lists are refreshed once per architecture. */
export async function lockImages(imageDirs: readonly string[], options: { progress?: (line: string) => void } = {}): Promise<LockedImage[]> {
  const progress = options.progress ?? (() => {});
  const specs = [];
  for (const dir of imageDirs) {
    const spec = await loadImageSpec(dir);
    if (!spec.debian) throw new BootosError('USAGE', `${join(dir, 'image.yaml')} has no debian: field; there is nothing to lock`);
    specs.push({ ...spec, debian: spec.debian });
  }
  const apts = new Map<OciArch, Apt>();
  for (const arch of ARCHES) {
    const apt = new Apt(ARCH_TABLE[arch].debian);
    progress(`lock: apt-get update (${apt.debArch})`);
    await apt.update();
    apts.set(ARCH_TABLE[arch].oci, apt);
  }
  const out: LockedImage[] = [];
  for (const spec of specs) {
    const packages = [...spec.debian.packages].sort();
    const arches = {} as ImageLock['arches'];
    for (const [arch, apt] of apts) {
      const debian = await apt.closure(packages, join(spec.dir, 'image.yaml'));
      const bytes = Object.values(debian).reduce((sum, pin) => sum + pin.size, 0);
      progress(`lock ${spec.config.name} ${arch}: ${Object.keys(debian).length} packages, ${(bytes / 1024 / 1024).toFixed(1)} MiB of .debs`);
      arches[arch] = { debian };
    }
    const lock: ImageLock = { lockVersion: 1, packages, arches };
    const path = join(spec.dir, IMAGE_LOCK_FILE);
    await writeFileAtomic(path, `${JSON.stringify(lock, null, 2)}\n`);
    out.push({ dir: spec.dir, path, lock });
  }
  return out;
}

export async function lockImage(imageDir: string, options: { progress?: (line: string) => void } = {}): Promise<LockedImage> {
  return (await lockImages([imageDir], options))[0]!;
}

/** The image folders directly under `dir` whose image.yaml has a `debian:` field, sorted. */
export async function debianImageDirs(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const sub = join(dir, entry.name);
    if (!entry.isDirectory() || !(await exists(join(sub, 'image.yaml')))) continue;
    if ((await loadImageSpec(sub)).debian) found.push(sub);
  }
  return found;
}
