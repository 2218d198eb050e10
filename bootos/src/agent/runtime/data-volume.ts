// Each app's /data is a file system of its own: an ext4 image in a file under the data root
// (<dataRoot>/.volumes/<app>.ext4) of the size the image asks for (`resources.data`, config `resources.dataBytes`),
// loop-mounted by the agent at the app's data folder (<dataRoot>/<app>) and bound into its container from there.
// A write beyond that size fails inside the app (ENOSPC in its own file system); nothing it does can take space
// that another app, the store or the agent's own state was promised.
//
//   - Made once, when the app first starts: only while the data root keeps `dataReserveBytes` free beside it (else
//     DATA_FULL). On a disk the file is preallocated (fallocate), so the space is the app's from then on; on a
//     tmpfs data root (RAM) it stays sparse, and the bytes it may still grow into are counted as taken by
//     freeBytes(), which every check of the data root's free space uses.
//   - Built as `<app>.ext4.partial`, renamed into place once mkfs.ext4 finished: a volume file that exists is whole.
//     The content of a plain data folder left by an older agent is copied in by mkfs.ext4 (`-d`, which reads with
//     lstat and never follows a link) and the folder emptied only after the rename.
//   - Mounted once per app, not per instance: the old and the new version of a hot update share one mount. It stays
//     mounted while the agent runs (an app stopped by idleness comes back on it) and is unmounted at agent stop once
//     every container is gone. A mount found at the data folder (an agent killed before it could unmount) is taken
//     over, never stacked.
//   - Paths in the data root are looked at with lstat: the volumes folder and the data folder must be real
//     directories, the volume a regular file; a symlink is refused, never followed.
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';
import { isMountPoint, syncDir } from '../../../../fetcher/src/core/fs.js';
import { run } from '../../../../fetcher/src/core/proc.js';

/** The folder of the volume files, beside the apps' data folders (an app name never starts with a dot). */
export const VOLUMES_DIR = '.volumes';

/** statfs f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

const MiB = 1024 * 1024;

export interface DataVolumeOptions {
  /** The apps' data root (<dataRoot>/<app> is an app's /data). */
  dataRoot: string;
  /** Free bytes the data root keeps beside a new volume. */
  reserveBytes: number;
  log(app: string, message: string): void;
}

export class DataVolumes {
  /** Apps whose volume is mounted at their data folder (by this agent, or taken over). */
  private readonly mounted = new Set<string>();
  /** One ensure() per app at a time: concurrent starts share it. */
  private readonly pending = new Map<string, Promise<string>>();

  constructor(private readonly o: DataVolumeOptions) {}

  fileOf(app: string): string {
    return join(this.o.dataRoot, VOLUMES_DIR, `${app}.ext4`);
  }

  dirOf(app: string): string {
    return join(this.o.dataRoot, app);
  }

  /**
   * The app's volume mounted at its data folder, made first (`sizeBytes`) if it does not exist; resolves with the
   * folder. Once mounted, at once. DATA_FULL when the data root has no room for it, DATA_VOLUME_FAILED when
   * mkfs.ext4 or the loop mount is missing or fails.
   */
  ensure(app: string, sizeBytes: number): Promise<string> {
    if (this.mounted.has(app)) return Promise.resolve(this.dirOf(app));
    let p = this.pending.get(app);
    if (!p) {
      p = this.bringUp(app, sizeBytes).finally(() => this.pending.delete(app));
      this.pending.set(app, p);
    }
    return p;
  }

  /** Mounts the app's volume if it has one (crash recovery of an update, before the app runs); false if none. */
  async mountExisting(app: string): Promise<boolean> {
    if (this.mounted.has(app)) return true;
    if (!(await this.volumeFile(app))) return false;
    await this.ensure(app, 0);
    return true;
  }

  private async bringUp(app: string, sizeBytes: number): Promise<string> {
    const dir = this.dirOf(app);
    const volumes = join(this.o.dataRoot, VOLUMES_DIR);
    await realDir(volumes, `the volumes folder ${volumes}`);
    const dirState = await realDir(dir, `${app}'s data folder ${dir}`);
    if (await isMountPoint(dir)) {
      // An agent killed before it unmounted: the mount is still there (the same file); take it over.
      this.mounted.add(app);
      this.o.log(app, `/data volume already mounted at ${dir}: taken over`);
      return dir;
    }
    let fresh = false;
    if (!(await this.volumeFile(app))) {
      if (sizeBytes <= 0) throw new BootosError('DATA_VOLUME_FAILED', `${app}: no /data volume to mount (${this.fileOf(app)})`);
      const t0 = Date.now();
      const migrate = dirState === 'found' && (await readdir(dir)).length > 0;
      await this.create(app, sizeBytes, migrate ? dir : null);
      this.o.log(app, `/data volume of ${Math.round(sizeBytes / MiB)} MiB made in ${Date.now() - t0} ms${migrate ? ' (the existing /data copied in)' : ''}`);
      fresh = true;
    }
    // Whatever is left in the plain folder was copied into the volume before it was renamed into place (a kill
    // after the rename and before this): the mount would only hide it.
    for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
    await run('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noatime', this.fileOf(app), dir], {
      code: 'DATA_VOLUME_FAILED',
      what: `mount -o loop of ${app}'s /data volume`,
    });
    this.mounted.add(app);
    if (fresh) {
      // mkfs.ext4's lost+found (root's, 0700) is not the app's: e2fsck makes it again if ever needed.
      await rmdir(join(dir, 'lost+found')).catch(() => {});
    }
    return dir;
  }

  /** The volume's file if it exists as a regular file; a link or anything else there is refused. */
  private async volumeFile(app: string): Promise<boolean> {
    const file = this.fileOf(app);
    const st = await lstat(file).catch((err) => (errnoCode(err) === 'ENOENT' ? null : Promise.reject(err)));
    if (!st) return false;
    if (!st.isFile()) throw new BootosError('DATA_VOLUME_FAILED', `${app}: ${file} is not a regular file`);
    return true;
  }

  private async create(app: string, sizeBytes: number, copyFrom: string | null): Promise<void> {
    const free = await this.freeBytes();
    if (free < sizeBytes + this.o.reserveBytes) {
      throw new BootosError(
        'DATA_FULL',
        `${app}: its /data volume needs ${sizeBytes} bytes (resources.data) and the data root keeps ${this.o.reserveBytes} bytes ` +
          `(dataReserveBytes) for the agent, but only ${free} bytes are free: free space, or give the image a smaller resources.data`,
      );
    }
    const file = this.fileOf(app);
    const partial = `${file}.partial`;
    await rm(partial, { force: true });
    try {
      const fh = await open(partial, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.truncate(sizeBytes);
      } finally {
        await fh.close();
      }
      if ((await statfs(this.o.dataRoot)).type !== TMPFS_MAGIC) {
        await run('fallocate', ['-l', String(sizeBytes), partial], { code: 'DATA_VOLUME_FAILED', what: `fallocate of ${app}'s /data volume` }).catch((err) => {
          throw /no space/i.test((err as Error).message) ? new BootosError('DATA_FULL', `${app}: no room for its /data volume of ${sizeBytes} bytes`, { cause: err }) : err;
        });
      }
      // -m 0: no blocks reserved for root (the app is not root); nodiscard: keep the preallocated blocks.
      const args = ['-q', '-F', '-m', '0', '-E', 'nodiscard', ...(copyFrom ? ['-d', copyFrom] : []), partial];
      await run('mkfs.ext4', args, { code: 'DATA_VOLUME_FAILED', what: `mkfs.ext4 of ${app}'s /data volume` }).catch((err) => {
        if (copyFrom && /allocate|no space|not enough/i.test((err as Error).message)) {
          throw new BootosError('DATA_FULL', `${app}: its existing /data does not fit in a volume of ${sizeBytes} bytes (resources.data): give the image a larger one`, { cause: err });
        }
        throw err;
      });
      const done = await open(partial, 'r');
      try {
        await done.sync();
      } finally {
        await done.close();
      }
      await rename(partial, file);
      await syncDir(join(this.o.dataRoot, VOLUMES_DIR));
    } catch (err) {
      await rm(partial, { force: true });
      if (errnoCode(err) === 'ENOSPC') throw new BootosError('DATA_FULL', `${app}: no room for its /data volume of ${sizeBytes} bytes`, { cause: err });
      throw err;
    }
  }

  /**
   * Free bytes of the data root that nothing was promised: statfs's available bytes less what sparse volumes (on a
   * tmpfs) may still grow into. What a download or a new volume may take, the reserve included.
   */
  async freeBytes(): Promise<number> {
    const fs = await statfs(this.o.dataRoot);
    let free = Number(fs.bavail) * Number(fs.bsize);
    const dir = join(this.o.dataRoot, VOLUMES_DIR);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith('.ext4')) continue;
      const st = await lstat(join(dir, name)).catch(() => null);
      if (st?.isFile()) free -= Math.max(0, st.size - st.blocks * 512);
    }
    return free;
  }

  /** Unmounts the app's volume (no container of the app may run). */
  async unmount(app: string): Promise<void> {
    if (!this.mounted.has(app)) return;
    const dir = this.dirOf(app);
    if (await isMountPoint(dir)) await run('umount', [dir], { code: 'DATA_VOLUME_FAILED', what: `umount of ${app}'s /data volume` });
    this.mounted.delete(app);
  }

  /** At agent stop, once every container is gone: every volume this agent mounted or took over. */
  async unmountAll(log: (line: string) => void): Promise<void> {
    await Promise.allSettled([...this.pending.values()]);
    for (const app of [...this.mounted]) await this.unmount(app).catch((err) => log(`bootos-agent: ${app}: ${(err as Error).message}`));
  }
}

/** Makes `path` a directory (0700) if it is missing; refuses a symlink or a file there. 'made' or 'found'. */
async function realDir(path: string, what: string): Promise<'made' | 'found'> {
  const st = await lstat(path).catch((err) => (errnoCode(err) === 'ENOENT' ? null : Promise.reject(err)));
  if (!st) {
    await mkdir(path, { mode: 0o700 });
    return 'made';
  }
  if (st.isSymbolicLink() || !st.isDirectory()) throw new BootosError('DATA_VOLUME_FAILED', `${what} is not a directory${st.isSymbolicLink() ? ' (a symlink)' : ''}`);
  return 'found';
}
