// Proves: the disk image's ESP (bootos/src/os/disk.ts, built with the real mkfs.fat, mtools and sfdisk) has the two
// OS slots as the OS updater expects them: slot a populated with its entry bootos-a.conf (version, sort-key,
// bootos.slot=a), slot b an empty folder, a loader.conf without `default` (so systemd-boot's order and boot counting
// decide); the ESP's FAT label BOOTOS-EFI is found in its boot sector; and a copy with another command line keeps
// the slot and the version.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ESP_START_SECTOR, SECTOR_BYTES, buildDisk } from '../../bootos/src/os/disk.js';
import { copyDiskWithCmdline, readDiskCmdline } from '../../bootos/src/os/disk-cmdline.js';
import { ensureEsp, fatLabel, findByFatLabel } from '../../bootos/src/agent/os/esp-device.js';
import { testDir } from '../support/registry.js';

const run = promisify(execFile);
const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

test('the disk image has slot a (entry, kernel, initramfs) and an empty slot b on an ESP labelled BOOTOS-EFI', async (t) => {
  const dir = await testDir(t, 'bootos-disk-slots-');
  const [bootloader, vmlinuz, initramfs] = ['boot.efi', 'vmlinuz', 'initramfs'].map((n) => join(dir, n)) as [string, string, string];
  await writeFile(bootloader, randomBytes(4096));
  await writeFile(vmlinuz, randomBytes(64 * 1024));
  await writeFile(initramfs, randomBytes(128 * 1024));
  const image = join(dir, 'disk.img');
  await buildDisk({ arch: 'x86_64', efiName: 'BOOTX64.EFI', bootloader, vmlinuz, initramfs, cmdline: 'console=ttyS0 quiet', osVersion: '5', mtime: 1704067200, dest: image, workDir: join(dir, 'work'), layout: { espMiB: 64, dataMiB: 16 } });
  const esp = `${image}@@${ESP_START_SECTOR * SECTOR_BYTES}`;
  const ls = async (path: string) => (await run('mdir', ['-b', '-i', esp, `::/${path}`], { env })).stdout.split('\n').filter(Boolean).map((l) => l.replace(/^::\//, '')).sort();
  t.deepEqual(await ls('loader/entries'), ['loader/entries/bootos-a.conf']);
  t.deepEqual(await ls('bootos-a'), ['bootos-a/initramfs', 'bootos-a/vmlinuz']);
  t.deepEqual(await ls('bootos-b'), []);
  const loaderConf = (await run('mtype', ['-i', esp, '::/loader/loader.conf'], { env })).stdout;
  t.notRegex(loaderConf, /^default/m, 'no default: the entries order and boot counting decide');
  const entry = (await run('mtype', ['-i', esp, '::/loader/entries/bootos-a.conf'], { env })).stdout;
  t.regex(entry, /^sort-key bootos$/m);
  t.regex(entry, /^version 5$/m);
  t.regex(entry, /^linux \/bootos-a\/vmlinuz$/m);
  t.is(await readDiskCmdline(image), 'console=ttyS0 quiet bootos.slot=a');

  const sector = Buffer.alloc(512);
  const fh = await open(image, 'r');
  await fh.read(sector, 0, 512, ESP_START_SECTOR * SECTOR_BYTES);
  await fh.close();
  t.is(fatLabel(sector), 'BOOTOS-EFI');

  // A copy for one network: the command line changes, the slot word and the version stay.
  const copy = join(dir, 'copy.img');
  await copyDiskWithCmdline(image, copy, 'console=ttyS0 bootos.registry=http://10.0.2.2:8080/');
  t.is(await readDiskCmdline(copy), 'console=ttyS0 bootos.registry=http://10.0.2.2:8080/ bootos.slot=a');
  const copied = (await run('mtype', ['-i', `${copy}@@${ESP_START_SECTOR * SECTOR_BYTES}`, '::/loader/entries/bootos-a.conf'], { env })).stdout;
  t.regex(copied, /^version 5$/m);
});

test('the ESP is found by its FAT label among block devices (FAT32 and FAT16), and an ESP directory is used as it is', async (t) => {
  const dir = await testDir(t, 'bootos-esp-label-');
  const fat = async (name: string, label: string, bits: '16' | '32') => {
    const file = join(dir, name);
    await run('mkfs.fat', ['-C', '-n', label, '-F', bits, file, bits === '32' ? '65536' : '16384']);
    return file;
  };
  const junk = join(dir, 'junk');
  await writeFile(junk, randomBytes(4096));
  const other = await fat('other.img', 'DATA', '32');
  const esp16 = await fat('esp16.img', 'BOOTOS-EFI', '16');
  const esp32 = await fat('esp32.img', 'BOOTOS-EFI', '32');
  t.is(await findByFatLabel([join(dir, 'missing'), junk, other, esp32]), esp32);
  t.is(await findByFatLabel([junk, esp16]), esp16);
  t.is(await findByFatLabel([junk, other]), null);
  // A directory that already is an ESP (a host run, or mounted before): used as it is, nothing is mounted.
  const espDir = join(dir, 'esp');
  await mkdir(join(espDir, 'loader', 'entries'), { recursive: true });
  t.is(await ensureEsp(espDir, [esp32]), espDir);
  t.is(await ensureEsp(join(dir, 'nothing'), [junk, other]), null, 'no BOOTOS-EFI partition: no ESP');
});
