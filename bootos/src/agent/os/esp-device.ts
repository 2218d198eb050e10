// Finding the EFI system partition of a disk-booted device: the FAT partition labelled BOOTOS-EFI (bootos/src/os/
// disk.ts names it so). The label is read from each block device's FAT boot sector, so neither udev nor blkid is
// needed in the initramfs. Mounting it (vfat, at <runDir>/esp) is the agent's start-up step for the OS updater.
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';
import { exists } from '../../../../fetcher/src/core/fs.js';
import { run } from '../../../../fetcher/src/core/proc.js';
import { ENTRIES_DIR } from '../../../../fetcher/src/formats/boot-entry.js';

export const ESP_LABEL = 'BOOTOS-EFI';

/** The volume label of a FAT boot sector (FAT12/16 or FAT32), or null when the bytes are not one. */
export function fatLabel(sector: Buffer): string | null {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) return null;
  const fat32 = sector.readUInt16LE(22) === 0; // BPB_FATSz16 is 0 on FAT32
  const [label, type] = fat32 ? [71, 82] : [43, 54];
  if (!sector.subarray(type, type + 3).toString('latin1').startsWith('FAT')) return null;
  // BS_BootSig 0x29 says the label fields are there.
  if (sector[fat32 ? 66 : 38] !== 0x29) return null;
  return sector.subarray(label, label + 11).toString('latin1').trimEnd();
}

/** The first of `devices` whose FAT label is `label`; devices that cannot be read are skipped. */
export async function findByFatLabel(devices: string[], label = ESP_LABEL): Promise<string | null> {
  for (const device of devices) {
    let sector: Buffer;
    try {
      const fh = await open(device, 'r');
      try {
        sector = Buffer.alloc(512);
        await fh.read(sector, 0, 512, 0);
      } finally {
        await fh.close();
      }
    } catch {
      continue;
    }
    if (fatLabel(sector) === label) return device;
  }
  return null;
}

/** /dev/<name> of every block device the kernel lists (partitions included). */
export async function blockDevices(sysBlock = '/sys/class/block', dev = '/dev'): Promise<string[]> {
  try {
    return (await readdir(sysBlock)).sort().map((name) => join(dev, name));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/**
 * The ESP at `dir`: already there (a host run's directory, or mounted before), or the partition labelled BOOTOS-EFI
 * mounted there now (vfat, `flush` so that writes reach the disk early). Null when there is no such partition.
 * (Tested on the host only up to finding the label; the mount itself is for the QEMU e2e.)
 */
export async function ensureEsp(dir: string, devices?: string[]): Promise<string | null> {
  if (await exists(join(dir, ENTRIES_DIR))) return dir;
  const device = await findByFatLabel(devices ?? (await blockDevices()));
  if (!device) return null;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // codepage/iocharset named: the Debian kernel's default iocharset (ascii) is a module the image does not carry
  // (bootos/os/bootos.yaml lists vfat, nls_cp437 and nls_iso8859_1).
  await run('mount', ['-t', 'vfat', '-o', 'rw,noatime,flush,codepage=437,iocharset=iso8859-1', device, dir], { code: 'ESP_INVALID' });
  if (!(await exists(join(dir, ENTRIES_DIR)))) throw new BootosError('ESP_INVALID', `${device} (label ${ESP_LABEL}) mounted at ${dir} has no ${ENTRIES_DIR}`);
  return dir;
}
