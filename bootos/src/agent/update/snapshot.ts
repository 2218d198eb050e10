// Snapshots of an app's /data before a hot update, so that a failed update rolls back code and data together.
//
// A snapshot is a copy of the folder beside it on the same filesystem (<dataRoot>/.snapshots/<app>): each file is
// cloned with FICLONE where the filesystem can (btrfs, XFS, bcachefs: copy-on-write, no bytes copied) and copied
// otherwise; owners, modes and times are kept. It is built under a `.partial` name and renamed into place only when
// complete and on disk, so a snapshot that exists is whole. Before copying, the free space of the data root is
// checked (statfs): an update refuses to start (UPDATE_NO_SPACE) rather than fill the device.
//
// Whether /data changed since the snapshot is told by a fingerprint over names, types, sizes, modes, owners and
// file mtimes (as rsync's quick check): equal fingerprints mean there is nothing to restore.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, open, readdir, readlink, rename, rm, statfs, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { exists, isMountPoint, syncDir } from '../../../../fetcher/src/core/fs.js';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';
import type { AgentConfig } from '../config.js';

/** Bytes a copy needs per entry besides file contents (inode, directory block): a deliberate overestimate. */
const ENTRY_OVERHEAD_BYTES = 4096;

interface Entry {
  rel: string;
  kind: 'dir' | 'file' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  link?: string;
}

/**
 * Times are compared in whole milliseconds. A copy's mtime is set from a Date (whole ms) and comes back from the
 * kernel up to a few microseconds early (seconds as a double), so the rounding allows 10 µs of that.
 */
function wholeMs(ms: number): number {
  return Math.floor(ms + 0.01);
}

/** Every entry under `dir` (not `dir` itself), parents before children, sorted; sockets, FIFOs and devices skipped. */
async function walk(dir: string, rel = ''): Promise<Entry[]> {
  const out: Entry[] = [];
  const names = (await readdir(join(dir, rel))).sort();
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(dir, r));
    const base = { rel: r, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtimeMs: wholeMs(st.mtimeMs) };
    if (st.isDirectory()) {
      out.push({ ...base, kind: 'dir', size: 0 });
      out.push(...(await walk(dir, r)));
    } else if (st.isFile()) {
      out.push({ ...base, kind: 'file' });
    } else if (st.isSymbolicLink()) {
      out.push({ ...base, kind: 'symlink', link: await readlink(join(dir, r)) });
    }
  }
  return out;
}

/** Where the /data snapshot of `app`'s update lives (one per app, beside the apps' /data folders). */
export function snapshotPathOf(config: AgentConfig, app: string): string {
  return join(config.dataRoot, '.snapshots', app);
}

/** A digest of the tree's shape and metadata; directory mtimes are left out (creating a copy changes them). */
export async function dataFingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  let entries: Entry[];
  try {
    entries = await walk(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'absent';
    throw err;
  }
  for (const e of entries) {
    const time = e.kind === 'file' ? e.mtimeMs : 0;
    hash.update(`${e.kind}\0${e.rel}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.size}\0${time}\0${e.link ?? ''}\n`);
  }
  return `sha256:${hash.digest('hex')}`;
}

const reflinkCache = new Map<string, boolean>();

/** Can files in `dir` be cloned (copy-on-write)? Tried once per folder with a small file. */
export async function canReflink(dir: string): Promise<boolean> {
  const known = reflinkCache.get(dir);
  if (known !== undefined) return known;
  const a = join(dir, `.reflink-probe-${randomBytes(4).toString('hex')}`);
  const b = `${a}.clone`;
  let ok = false;
  try {
    await writeFile(a, 'probe');
    await copyFile(a, b, constants.COPYFILE_FICLONE_FORCE);
    ok = true;
  } catch {
    ok = false;
  } finally {
    await rm(a, { force: true });
    await rm(b, { force: true });
  }
  reflinkCache.set(dir, ok);
  return ok;
}

export interface SpaceCheck {
  neededBytes: number;
  availableBytes: number;
  reflink: boolean;
}

/**
 * Throws UPDATE_NO_SPACE when a snapshot of `dataDir` would not fit in the free space of `snapshotsDir`'s filesystem
 * with `reserveBytes` left over. With copy-on-write, only metadata is counted.
 */
export async function checkSnapshotSpace(dataDir: string, snapshotsDir: string, reserveBytes: number): Promise<SpaceCheck> {
  await mkdir(snapshotsDir, { recursive: true, mode: 0o700 });
  const entries = await walk(dataDir).catch((err) => {
    if (errnoCode(err) === 'ENOENT') return [] as Entry[];
    throw err;
  });
  const reflink = await canReflink(snapshotsDir);
  let needed = ENTRY_OVERHEAD_BYTES;
  for (const e of entries) {
    needed += ENTRY_OVERHEAD_BYTES;
    if (e.kind === 'file' && !reflink) needed += Math.ceil(e.size / 4096) * 4096;
  }
  const fs = await statfs(snapshotsDir);
  const available = Number(fs.bavail) * Number(fs.bsize);
  if (needed + reserveBytes > available) {
    throw new BootosError(
      'UPDATE_NO_SPACE',
      `a snapshot of ${dataDir} needs ${needed} bytes${reflink ? ' (copy-on-write)' : ''} plus ${reserveBytes} reserved, ` +
        `but the data root has ${available} bytes free`,
    );
  }
  return { neededBytes: needed, availableBytes: available, reflink };
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Copies the contents of `src` into the existing folder `dst`: clone or copy, owners, modes, times; fsynced. */
async function copyContents(src: string, dst: string): Promise<void> {
  const entries = await walk(src);
  const dirs: Entry[] = [];
  for (const e of entries) {
    const from = join(src, e.rel);
    const to = join(dst, e.rel);
    if (e.kind === 'dir') {
      await mkdir(to, { mode: 0o700 });
      dirs.push(e);
    } else if (e.kind === 'file') {
      await copyFile(from, to, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      await lchown(to, e.uid, e.gid);
      await chmod(to, e.mode);
      await utimes(to, new Date(e.mtimeMs), new Date(e.mtimeMs));
      await fsyncFile(to);
    } else {
      await symlink(e.link!, to);
      await lchown(to, e.uid, e.gid);
      await lutimes(to, new Date(e.mtimeMs), new Date(e.mtimeMs));
    }
  }
  // Directories last, deepest first: their owners, modes and times once nothing more is written into them.
  for (const e of dirs.reverse()) {
    const to = join(dst, e.rel);
    await lchown(to, e.uid, e.gid);
    await chmod(to, e.mode);
    await syncDir(to);
  }
  await syncDir(dst);
}

async function copyRootMeta(src: string, dst: string): Promise<void> {
  const st = await lstat(src);
  await lchown(dst, st.uid, st.gid);
  await chmod(dst, st.mode & 0o7777);
}

/**
 * Snapshots `dataDir` to `snapshot` (which must not exist): built as `<snapshot>.partial`, renamed when complete.
 * Returns the snapshot's fingerprint.
 */
export async function takeSnapshot(dataDir: string, snapshot: string): Promise<string> {
  const partial = `${snapshot}.partial`;
  await rm(partial, { recursive: true, force: true });
  await rm(snapshot, { recursive: true, force: true });
  await mkdir(dirname(snapshot), { recursive: true, mode: 0o700 });
  await mkdir(partial, { mode: 0o700 });
  try {
    await copyContents(dataDir, partial);
    await copyRootMeta(dataDir, partial);
    await rename(partial, snapshot);
    await syncDir(dirname(snapshot));
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
  return dataFingerprint(snapshot);
}

/**
 * Makes `dataDir` hold what `snapshot` holds, keeping the folder itself (a running container has it bind-mounted:
 * a rename would leave the container on the old folder). Not atomic: the caller pauses the app meanwhile and has
 * journaled the restore, so that a kill in the middle is finished by the next start (restoreBySwap).
 */
export async function restoreInPlace(snapshot: string, dataDir: string): Promise<void> {
  for (const name of await readdir(dataDir)) await rm(join(dataDir, name), { recursive: true, force: true });
  await copyContents(snapshot, dataDir);
  await copyRootMeta(snapshot, dataDir);
}

/**
 * Replaces `dataDir` with `snapshot` by renames (no container may have it mounted). Idempotent: after a kill at any
 * point, calling it again finishes the job. The snapshot is consumed.
 */
export async function restoreBySwap(snapshot: string, dataDir: string): Promise<void> {
  const discard = `${snapshot}.discard`;
  if (await exists(snapshot)) {
    if (await exists(dataDir)) {
      await rm(discard, { recursive: true, force: true });
      await rename(dataDir, discard);
    }
    await rename(snapshot, dataDir);
    await syncDir(dirname(dataDir));
    await syncDir(dirname(snapshot));
  }
  await rm(discard, { recursive: true, force: true });
}

/**
 * Makes `dataDir` hold what `snapshot` holds when no container has it mounted. An app's volume is mounted there (a
 * mount point cannot be renamed): restored in place, which a kill in the middle leaves to the journal to finish
 * (the snapshot is kept until then); a plain folder (an older agent's) by renames. The snapshot is consumed.
 */
export async function restoreData(snapshot: string, dataDir: string): Promise<void> {
  if (await isMountPoint(dataDir)) {
    if (!(await exists(snapshot))) return;
    await restoreInPlace(snapshot, dataDir);
    await syncDir(dataDir);
    await dropSnapshot(snapshot);
  } else {
    await restoreBySwap(snapshot, dataDir);
  }
}

/** Probe files of canReflink() that a kill left behind. */
export async function removeProbeLeftovers(snapshotsDir: string): Promise<void> {
  for (const name of await readdir(snapshotsDir).catch(() => [] as string[])) {
    if (name.startsWith('.reflink-probe-')) await rm(join(snapshotsDir, name), { force: true });
  }
}

export async function dropSnapshot(snapshot: string): Promise<void> {
  await rm(`${snapshot}.partial`, { recursive: true, force: true });
  await rm(`${snapshot}.discard`, { recursive: true, force: true });
  await rm(snapshot, { recursive: true, force: true });
}
