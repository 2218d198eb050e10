// Write-then-rename helpers: a reader never sees a half-written file.
import { randomBytes } from 'node:crypto';
import { lstat, open, readFile, rename, rm, mkdir } from 'node:fs/promises';
import { BootosError, errnoCode } from './error.js';
import { dirname, join, basename } from 'node:path';

export function tempPathFor(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${randomBytes(6).toString('hex')}`);
}

/**
 * Writes `data` to a temp file (beside `path` unless `tmp` names one on the same filesystem), fsyncs it, renames it
 * over `path` and fsyncs the directory.
 */
export async function writeFileAtomic(path: string, data: Buffer | string, mode = 0o644, tmp = tempPathFor(path)): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The bytes of a file the user named; a missing one is FILE_NOT_FOUND naming `what` and the path. */
export async function readFileOrFail(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('FILE_NOT_FOUND', `${what} not found: ${path}`);
    throw err;
  }
}

/**
 * Whether something is at `path` (not following a final symlink: a dangling link exists). Only "not there" is false;
 * any other failure (EACCES, EIO) is thrown, never taken for absence.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

/** Whether process `pid` exists (ours, or one we may not signal). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * Whether `path` is a directory on another file system than its parent (a mount point), looked at with lstat: a
 * symlink is never one. False when it does not exist.
 */
export async function isMountPoint(path: string): Promise<boolean> {
  const st = await lstat(path).catch((err) => (errnoCode(err) === 'ENOENT' ? null : Promise.reject(err)));
  if (!st || !st.isDirectory()) return false;
  const parent = await lstat(dirname(path));
  return st.dev !== parent.dev || st.ino === parent.ino;
}
