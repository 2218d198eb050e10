// The image's /usr (node, runc and their libraries: the bulk of the bytes) as a compressed, read-only squashfs
// carried inside the initramfs and loop-mounted by /init. The kernel then unpacks a small cpio, RAM holds the
// compressed image rather than ~120 MB of files, and pages are decompressed when they are first read.
// Reproducible: entries staged with exact modes, owners and times forced by mksquashfs (-all-root, -all-time,
// -mkfs-time), no xattrs; mksquashfs sorts directories itself and its output does not depend on the thread count.
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempPathFor } from '../../../fetcher/src/core/fs.js';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { cacheDir } from '../../../fetcher/src/debian/cache.js';
import { exists } from '../../../fetcher/src/core/fs.js';
import { writeCpio } from './cpio.js';
import type { Arch } from './recipe.js';
import { run } from '../../../fetcher/src/core/proc.js';
import type { Tree } from './tree.js';

export interface SquashfsOptions {
  comp: 'xz' | 'zstd';
  /** xz branch/call/jump filter for machine code (x86 only: the 6.1 kernel's xz decoder has no arm64 filter). */
  bcj?: 'x86';
  /** zstd level (ignored for xz). */
  level?: number;
  /** Block size in KiB: larger compresses better, a first read of a page decompresses the whole block. */
  blockKiB: number;
}

/**
 * 1 MiB blocks (docs/decisions.md has the xz/zstd comparison). Node's start reads only part of its 107 MB binary,
 * so on-demand decompression of those blocks costs less than unpacking all of it.
 */
export function squashfsOptions(_arch: Arch): SquashfsOptions {
  // zstd -19 on both: it decodes several times faster than xz, which made Node's first start under TCG 3–4.5 s
  // slower on x86_64 even with its BCJ filter (and the 6.1 kernel's xz decoder has no arm64 BCJ at all). The bytes
  // it costs on x86_64 are paid for by the trimmed ICU data (docs/decisions.md).
  return { comp: 'zstd', level: 19, blockKiB: 1024 };
}

export function mksquashfsArgs(staging: string, dest: string, mtime: number, o: SquashfsOptions): string[] {
  return [
    staging, dest, '-noappend', '-reproducible', '-quiet', '-no-progress',
    '-comp', o.comp,
    ...(o.comp === 'xz' && o.bcj ? ['-Xbcj', o.bcj] : []),
    ...(o.comp === 'zstd' && o.level ? ['-Xcompression-level', String(o.level)] : []),
    '-b', `${o.blockKiB}K`,
    '-all-root', '-no-xattrs', '-mkfs-time', String(mtime), '-all-time', String(mtime),
  ];
}

/** Writes the tree's entries under `dir` with their exact modes (files, folders and symlinks only). */
export async function stageTree(tree: Tree, dir: string): Promise<void> {
  const dirs: Array<[string, number]> = [];
  for (const p of tree.sortedPaths()) {
    const e = tree.get(p)!;
    const at = join(dir, p);
    if (e.type === 'dir') {
      await mkdir(at, { recursive: true });
      dirs.push([at, e.mode]);
    } else if (e.type === 'file') {
      if (Buffer.isBuffer(e.source)) await writeFile(at, e.source);
      else await copyFile(e.source, at);
      await chmod(at, e.mode);
    } else if (e.type === 'symlink') {
      await symlink(e.target, at);
    } else {
      throw new BootosError('OS_TREE_INVALID', `/${p}: a device node cannot go into the squashfs`);
    }
  }
  for (const [at, mode] of dirs.reverse()) await chmod(at, mode);
}

export interface SquashfsResult {
  path: string;
  bytes: number;
  cached: boolean;
}

/**
 * The squashfs of `tree`, from the cache when the same tree was built with the same options and mksquashfs
 * before (keyed by the sha256 of the tree's cpio stream, which covers paths, modes and contents).
 */
export async function buildSquashfs(tree: Tree, mtime: number, options: SquashfsOptions): Promise<SquashfsResult> {
  const version = (await run('mksquashfs', ['-version'], { okCodes: [0, 1] }).catch((err: unknown) => {
    throw new BootosError('OS_TOOL_FAILED', `mksquashfs: cannot run (${(err as Error).message}); install the squashfs-tools package`, { cause: err });
  })).stdout.split('\n')[0]!.trim();
  const hash = createHash('sha256');
  await writeCpio(tree, mtime, (chunk) => void hash.update(chunk));
  hash.update(JSON.stringify({ version, options }));
  const key = join(cacheDir(), 'squashfs', `${hash.digest('hex')}.sqfs`);
  if (await exists(key)) return { path: key, bytes: (await stat(key)).size, cached: true };

  const work = tempPathFor(key);
  const staging = join(work, 'root');
  await mkdir(staging, { recursive: true });
  try {
    await stageTree(tree, staging);
    const out = join(work, 'image.sqfs');
    await run('mksquashfs', mksquashfsArgs(staging, out, mtime, options));
    await rename(out, key);
    return { path: key, bytes: (await stat(key)).size, cached: false };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
