// The demo's persistent data root: a raw ext4 image labelled BOOTOS-DATA in the work folder, given to the guest as a
// virtio disk. /init mounts the filesystem with that label as /var/lib/bootos (bootos/os/files/init), so the trust
// state, the pulled images and every app's /data (a note in the notes app) outlive `npm run demo`.
// The work folder is one demo's at a time (`lock` below): two guests writing one ext4 image would corrupt it, and
// two demos would also rewrite one registry.
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError, errnoCode } from '../../../fetcher/src/core/error.js';
import { run } from '../../../fetcher/src/core/proc.js';
import { MKE2FS_CONF } from '../os/disk.js';

export const DATA_DISK_FILE = 'data.img';
export const DATA_DISK_MIB = 512;
export const LOCK_FILE = 'demo.lock';

/** `<work>/data.img`: made once (a sparse file: it takes the space its data takes), kept afterwards. */
export async function ensureDataDisk(work: string, sizeMiB = DATA_DISK_MIB): Promise<{ file: string; made: boolean }> {
  const file = join(work, DATA_DISK_FILE);
  if (await stat(file).catch(() => null)) return { file, made: false };
  const conf = join(work, 'mke2fs.conf');
  const partial = `${file}.partial`;
  await writeFile(conf, MKE2FS_CONF);
  try {
    await rm(partial, { force: true });
    await run('mkfs.ext4', ['-q', '-F', '-t', 'ext4', '-L', 'BOOTOS-DATA', '-E', 'root_owner=0:0', partial, `${sizeMiB}M`], { env: { ...process.env, MKE2FS_CONFIG: conf } });
    await rename(partial, file); // never a half-made disk under the name the next run trusts
  } finally {
    await rm(conf, { force: true });
    await rm(partial, { force: true });
  }
  return { file, made: true };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * Takes `<work>/demo.lock` (holding this process's pid) or fails with WORK_DIR_BUSY when a living process holds it. A
 * lock left by a demo that was killed (its pid is gone) is taken over. Returns the release function.
 */
export async function lockWorkDir(work: string): Promise<() => Promise<void>> {
  const file = join(work, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(file, { force: true });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST' || attempt > 0) throw err;
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      throw new BootosError('WORK_DIR_BUSY', `another bootos demo (pid ${pid}) uses ${work}: stop it, or give this one its own --work DIR (if no demo runs, remove ${file})`);
    }
    await rm(file, { force: true }); // stale: its demo is gone
  }
}
