// The kernel command line of a built disk image lives in its systemd-boot loader entry on the ESP. Reading it, and
// making a copy of the image with a different one (for example with `bootos.registry=` for one office network, or for
// a QEMU guest that reaches the host's registry at 10.0.2.2), without root or loop mounts: mtools at the ESP's offset.
// The entry is slot a's (the build's own); its version is kept and `bootos.slot=a` is always on its options line.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { ESP_START_SECTOR, LOADER_ENTRY, SECTOR_BYTES, loaderEntry } from './disk.js';
import { run } from '../../../fetcher/src/core/proc.js';

const env = () => ({ ...process.env, MTOOLS_SKIP_CHECK: '1' });
const esp = (image: string) => `${image}@@${ESP_START_SECTOR * SECTOR_BYTES}`;

async function readEntry(image: string): Promise<string> {
  return (await run('mtype', ['-i', esp(image), `::/${LOADER_ENTRY}`], { env: env() })).stdout;
}

function field(entry: string, name: string, image: string): string {
  const line = entry.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new BootosError('OS_TREE_INVALID', `${image}: ${LOADER_ENTRY} has no ${name} line`);
  return line.slice(name.length + 1).trim();
}

/** The `options` line of the image's loader entry (slot a's, with its `bootos.slot=a`). */
export async function readDiskCmdline(image: string): Promise<string> {
  return field(await readEntry(image), 'options', image);
}

/**
 * Copies `image` to `dest` (sparse, as quick as the filesystem allows) with `cmdline` in its loader entry, and with
 * `version` as slot a's OS version when given (else the image's own).
 */
export async function copyDiskWithCmdline(image: string, dest: string, cmdline: string, osVersion?: string): Promise<void> {
  if (/[\n\r]/.test(cmdline)) throw new BootosError('USAGE', 'a kernel command line is one line');
  const version = osVersion ?? field(await readEntry(image), 'version', image);
  await run('cp', ['--sparse=always', '--reflink=auto', image, dest]);
  const dir = await mkdtemp(join(tmpdir(), 'bootos-entry-'));
  try {
    const entry = join(dir, 'bootos-a.conf');
    await writeFile(entry, loaderEntry(cmdline, version));
    await run('mcopy', ['-o', '-i', esp(dest), entry, `::/${LOADER_ENTRY}`], { env: env() });
  } catch (err) {
    await rm(dest, { force: true });
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
