// Mount points inside an unpacked image root, made without ever leaving it.
//
// An image may hold absolute symlinks (`lib64 -> /usr/lib64`, or a hostile `lib64 -> /etc`): the path gate admits
// them because inside the container they resolve inside the root. The agent runs as root on the host, where the
// same link points at the host's own directory, so no path inside a root is ever handed to a call that follows
// links (existsSync, mkdir -p, open). Every component is looked at with lstat and a symlink is followed the way
// the container will follow it (openat2's RESOLVE_IN_ROOT, runc's securejoin): an absolute target starts again at
// the root, `..` stops at the root. Whatever is missing is created one level at a time under a parent that is a
// real directory of the root; the last component is created with O_EXCL, which never follows a link.
//
// Nothing else writes into an unpacked root while this runs (the store's roots are the agent's, and containers see
// them read-only), so a walk of lstat calls sees what the creating calls then act on.
import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';

export interface MountPoint {
  /** Absolute path as the container sees it. */
  path: string;
  /** A regular file (the target of a file bind) rather than a directory. */
  file: boolean;
  /** A directory's mode, set whether it was made or found (e.g. 0o1777 for /tmp); without it a new one is 0755. */
  mode?: number;
}

/**
 * Makes `point` exist inside `root`, following the root's own links only within the root (at most `maxSymlinkHops`,
 * the path gate's limit). Returns the host path that was made or found, which always lies under `root`.
 */
export async function ensureInRoot(root: string, point: MountPoint, maxSymlinkHops: number): Promise<string> {
  const refuse = (why: string): never => {
    throw new BootosError('APP_START_FAILED', `mount point ${point.path} in the image: ${why}`);
  };
  const done: string[] = [];
  const queue = point.path.split('/');
  let hops = 0;
  while (queue.length) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      done.pop(); // never above the root
      continue;
    }
    const last = queue.every((q) => q === '' || q === '.');
    const here = join(root, ...done, c);
    const st = await lstat(here).catch((err) => (errnoCode(err) === 'ENOENT' ? null : Promise.reject(err)));
    if (st?.isSymbolicLink()) {
      if (++hops > maxSymlinkHops) refuse('too many levels of symbolic links');
      const target = await readlink(here);
      if (target.startsWith('/')) done.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (st === null) {
      if (last && point.file) {
        // O_EXCL: fails on anything that appeared, a link included, instead of following it.
        await (await open(here, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o644)).close();
      } else {
        await mkdir(here, { mode: 0o755 });
      }
    } else if (!st.isDirectory() && (!last || !point.file)) {
      refuse(`${join('/', ...done, c)} is not a directory`);
    }
    done.push(c);
  }
  const made = join(root, ...done);
  if (point.mode !== undefined && !point.file) await setDirMode(made, point.mode);
  return made;
}

/** chmod of a directory that the walk found or made, through a descriptor opened without following a link. */
async function setDirMode(path: string, mode: number): Promise<void> {
  const dir = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    if (((await dir.stat()).mode & 0o7777) !== mode) await dir.chmod(mode);
  } finally {
    await dir.close();
  }
}

/** Every point of `points`, in order (a later one may pass through an earlier one's directories). */
export async function ensureMountPoints(root: string, points: MountPoint[], maxSymlinkHops: number): Promise<void> {
  for (const point of points) await ensureInRoot(root, point, maxSymlinkHops);
}
