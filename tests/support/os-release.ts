// OS releases for tests: a build output with the files `bootos os publish` takes (random bytes stand in for a kernel
// and an initramfs: the release format does not look inside them), and an ESP laid out by the disk builder's own
// espFiles() in a plain directory.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { espFiles } from '../../bootos/src/os/disk.js';

export interface FakeBuild {
  dir: string;
  kernel: Buffer;
  initramfs: Buffer;
}

/** <base>/<arch>/{vmlinuz,initramfs} as `bootos build` leaves them. */
export async function fakeBuild(base: string, arch: 'x86_64' | 'aarch64' = 'x86_64', sizes = { kernel: 700 * 1024, initramfs: 1536 * 1024 }): Promise<FakeBuild> {
  const dir = join(base, arch);
  await mkdir(dir, { recursive: true });
  const kernel = randomBytes(sizes.kernel);
  const initramfs = randomBytes(sizes.initramfs);
  await writeFile(join(dir, 'vmlinuz'), kernel);
  await writeFile(join(dir, 'initramfs'), initramfs);
  await writeFile(join(dir, 'cmdline'), 'console=ttyS0 quiet\n');
  return { dir, kernel, initramfs };
}

export const ESP_CMDLINE = 'console=tty0 console=ttyS0 quiet bootos.data_wait=10 bootos.registry=http://10.0.2.2:8080/';

/** A directory laid out as the disk image's ESP, slot a running `version` from `build`. */
export async function makeEspDir(dir: string, build: FakeBuild, version: string): Promise<string> {
  const bootloader = join(dir, '..', 'fake-systemd-boot.efi');
  await writeFile(bootloader, 'MZ fake boot loader');
  const { files, dirs } = espFiles({
    efiName: 'BOOTX64.EFI',
    bootloader,
    vmlinuz: join(build.dir, 'vmlinuz'),
    initramfs: join(build.dir, 'initramfs'),
    cmdline: ESP_CMDLINE,
    osVersion: version,
  });
  for (const d of dirs) await mkdir(join(dir, d), { recursive: true });
  for (const [path, source] of files) {
    if (typeof source === 'string') await copyFile(source, join(dir, path));
    else await writeFile(join(dir, path), source);
  }
  return dir;
}
