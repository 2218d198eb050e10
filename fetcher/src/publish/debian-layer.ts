// The layer of an image's `debian:` packages for one platform: the pinned .debs of image.lock.json (downloaded into
// the input cache and verified by sha256), unpacked with `dpkg-deb -x` (data.tar only: no maintainer script runs),
// turned into layer entries. Laid out as Debian 12 installs them (merged /usr: a package's bin/, sbin/, lib*/ go
// under usr/, with bin → usr/bin and the like as links). What an app never reads is dropped unless image.yaml keeps
// it: usr/share/{doc,doc-base,info,man,locale,lintian} — except each package's copyright file, which always stays.
// Device nodes, FIFOs and sockets are skipped (the runtime provides /dev). Hard links inside a package stay hard
// links (Mesa's DRI drivers are one 25 MiB file under a dozen names): the bytewise-first name carries the bytes, the
// others link to it. The layer writer normalises modes and owners (setuid bits go). Deterministic: entries depend only on the pinned packages and `keep`.
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ARCHES, ARCH_TABLE, type OciArch } from '../core/arch.js';
import { BootosError } from '../core/error.js';
import type { DebPin } from '../formats/deb-pin.js';
import { IMAGE_LOCK_FILE, checkImageLockCovers, loadImageLock, lockCommandFor } from '../formats/image-lock.js';
import type { DebianKeep, ImageSpec } from '../formats/image-spec.js';
import { fetchDebs } from '../debian/fetch-debs.js';
import { unpackDeb } from '../debian/unpack-deb.js';
import type { LayerEntry } from './layer-writer.js';

/** Top-level folders that Debian 12 merges into /usr. */
const MERGED = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** What each `keep` value keeps; all of these are dropped otherwise. */
const DROPPABLE: Record<DebianKeep, string[]> = {
  docs: ['usr/share/doc', 'usr/share/doc-base'],
  man: ['usr/share/man'],
  info: ['usr/share/info'],
  locales: ['usr/share/locale'],
  lintian: ['usr/share/lintian'],
};

export interface DebianLayer {
  entries: LayerEntry[];
  /** Every package in the layer (the lock's closure for this platform). */
  packages: Record<string, DebPin>;
  /** Bytes of file content in the entries. */
  unpackedBytes: number;
  /** Device nodes, FIFOs and sockets that were left out. */
  skipped: string[];
}

/**
 * The entries of the `debian:` layer of `spec` for platform `arch`. The lock must cover image.yaml's packages
 * (OS_LOCK_STALE otherwise); a pin that left the archive is OS_PIN_GONE. The entries point into the input cache,
 * which is never pruned, so there is nothing to clean up.
 */
export async function debianLayerEntries(
  imageDir: string,
  spec: Pick<ImageSpec, 'debian'>,
  arch: OciArch,
  onProgress?: (message: string) => void,
): Promise<DebianLayer> {
  if (!spec.debian) return { entries: [], packages: {}, unpackedBytes: 0, skipped: [] };
  const lock = await loadImageLock(imageDir);
  checkImageLockCovers(lock, spec.debian.packages, arch, imageDir);
  const pins = lock.arches[arch].debian;
  const debArch = ARCH_TABLE[ARCHES.find((a) => ARCH_TABLE[a].oci === arch)!].debian;
  const debs = await fetchDebs(pins, debArch, {
    lock: { file: join(imageDir, IMAGE_LOCK_FILE), command: lockCommandFor(imageDir) },
    progress: onProgress,
  });
  const dropped = Object.entries(DROPPABLE).flatMap(([k, dirs]) => (spec.debian!.keep.includes(k as DebianKeep) ? [] : dirs));
  const drop = (path: string) =>
    dropped.some((d) => path === d || path.startsWith(`${d}/`)) && !/^usr\/share\/doc\/[^/]+\/copyright$/.test(path);

  const byPath = new Map<string, { entry: LayerEntry; from: string }>();
  const skipped: string[] = [];
  let unpackedBytes = 0;
  const add = (entry: LayerEntry, from: string) => {
    const seen = byPath.get(entry.path);
    if (seen) {
      const same = seen.entry.type === entry.type && (entry.type !== 'symlink' || (seen.entry.type === 'symlink' && seen.entry.target === entry.target));
      if (same && entry.type !== 'file') return;
      throw new BootosError('IMAGE_INVALID', `${entry.path} is in two packages, ${seen.from} and ${from}; ${imageDir}/image.yaml cannot have both`);
    }
    byPath.set(entry.path, { entry, from });
    if (entry.type === 'file') unpackedBytes += entry.size;
  };
  for (const name of Object.keys(pins).sort()) {
    onProgress?.(`${name}: unpacking ${pins[name]!.filename}`);
    const root = await unpackDeb(debs[name]!);
    /** The image paths of each multiply linked file of this package, by inode. */
    const inodes = new Map<number, string[]>();
    const visit = async (rel: string): Promise<void> => {
      for (const child of (await readdir(join(root, rel))).sort()) {
        const original = rel ? `${rel}/${child}` : child;
        const path = merged(original);
        const abs = join(root, original);
        const st = await lstat(abs);
        if (st.isDirectory()) {
          // A dropped folder is still walked: the copyright files under usr/share/doc stay.
          if (!drop(path)) add({ path, type: 'directory' }, name);
          await visit(original);
        } else if (drop(path)) {
          continue;
        } else if (st.isFile()) {
          add({ path, type: 'file', source: abs, size: st.size, executable: (st.mode & 0o100) !== 0 }, name);
          if (st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
        } else if (st.isSymbolicLink()) {
          add({ path, type: 'symlink', target: linkTarget(original, path, await readlink(abs)) }, name);
        } else {
          skipped.push(`${name}: /${original}`);
        }
      }
    };
    await visit('');
    for (const paths of inodes.values()) {
      const [first, ...others] = paths.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      for (const other of others) {
        const entry = byPath.get(other)!.entry as Extract<LayerEntry, { type: 'file' }>;
        unpackedBytes -= entry.size;
        byPath.set(other, { entry: { path: other, type: 'hardlink', target: first!, executable: entry.executable }, from: name });
      }
    }
  }
  // bin → usr/bin and the like, for each merged folder that exists (as Debian 12's base system has them).
  for (const dir of MERGED) {
    if (byPath.get(`usr/${dir}`)?.entry.type === 'directory') add({ path: dir, type: 'symlink', target: `usr/${dir}` }, 'merged /usr');
  }
  if (skipped.length) onProgress?.(`debian layer: skipped ${skipped.length} special file(s): ${skipped.join(', ')}`);
  return { entries: [...byPath.values()].map((v) => v.entry), packages: pins, unpackedBytes, skipped };
}

/** A package path under merged /usr: `lib/x86_64-linux-gnu/libc.so.6` → `usr/lib/x86_64-linux-gnu/libc.so.6`. */
function merged(path: string): string {
  const top = path.split('/')[0]!;
  return MERGED.includes(top) ? `usr/${path}` : path;
}

/**
 * A moved link keeps pointing where it pointed: a relative target that climbs (`../lib/…`) is made absolute from
 * the link's original place, and the image's merged-/usr links resolve it from the root.
 */
function linkTarget(original: string, path: string, target: string): string {
  if (path === original || target.startsWith('/') || !target.split('/').includes('..')) return target;
  const resolved = posix.normalize(posix.join(posix.dirname(original), target));
  return resolved.startsWith('..') ? target : `/${resolved}`;
}
