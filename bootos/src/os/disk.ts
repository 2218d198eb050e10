// The UEFI disk image for USB sticks (`dd` it): GPT with an EFI system partition (systemd-boot, which starts the
// kernel's own EFI stub with the initramfs) and an ext4 partition labelled BOOTOS-DATA. The ESP has two OS slots
// (fetcher/src/formats/boot-entry.ts, docs/os-updates.md): slot a holds this build (bootos-a/, the entry
// loader/entries/bootos-a.conf with `version` and `bootos.slot=a`), slot b is an empty folder the agent fills with
// the next OS release. Built without root or
// loop mounts: mkfs.fat + mtools for the ESP, mkfs.ext4 -d for the data partition, sfdisk on a file. Partition
// table, UUIDs, volume ids, hash seeds and timestamps are all fixed, so the same inputs give the same bytes.
import { createHash } from 'node:crypto';
import { mkdir, open, rm, utimes, writeFile, copyFile, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../../fetcher/src/core/proc.js';
import { ENTRIES_DIR, LOADER_CONF, LOADER_CONF_TEXT, entryFileName, formatEntry, slotDir } from '../../../fetcher/src/formats/boot-entry.js';

export const SECTOR_BYTES = 512;
/** Where the EFI system partition starts (1 MiB alignment). */
export const ESP_START_SECTOR = 2048;
/** The systemd-boot loader entry of the build's own slot (a): it holds the kernel command line and the OS version. */
export const LOADER_ENTRY = `${ENTRIES_DIR}/${entryFileName('a')}`;
/** The OS version of a build that was given none (`bootos build --os-version`): any published release is newer. */
export const UNVERSIONED_OS = '0';

export function loaderEntry(cmdline: string, version = UNVERSIONED_OS): string {
  return formatEntry({ slot: 'a', version, options: cmdline });
}
const MiB = 1024 * 1024;

export interface DiskLayout {
  espMiB: number;
  dataMiB: number;
}

/** ESP room for two kernel + initramfs pairs (A/B updates later); a small data partition the device can grow. */
export const DEFAULT_LAYOUT: DiskLayout = { espMiB: 192, dataMiB: 128 };

/** A stable UUID (RFC 4122 layout, version 4 bits) derived from a name, so every build uses the same ones. */
export function stableUuid(name: string): string {
  const h = createHash('sha256').update(`bootos:${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export interface DiskInput {
  arch: string;
  efiName: string; // BOOTX64.EFI, BOOTAA64.EFI
  bootloader: string;
  vmlinuz: string;
  initramfs: string;
  cmdline: string;
  /** The OS version of slot a's entry (default UNVERSIONED_OS). */
  osVersion?: string;
  mtime: number;
  dest: string;
  workDir: string;
  layout?: DiskLayout;
}

/**
 * A fixed mke2fs configuration, so the host's /etc/mke2fs.conf cannot change the filesystem: the ext4 features of a
 * data partition that the OS kernel mounts (also the demo's data disk, bootos/src/demo/data-disk.ts).
 */
export const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

/** What the ESP holds (path → a file to copy, or bytes), and the folders, slot b's empty one included. */
export function espFiles(input: Pick<DiskInput, 'efiName' | 'bootloader' | 'vmlinuz' | 'initramfs' | 'cmdline' | 'osVersion'>): { files: Array<[string, string | Buffer]>; dirs: string[] } {
  const files: Array<[string, string | Buffer]> = [
    [`EFI/BOOT/${input.efiName}`, input.bootloader],
    [LOADER_CONF, Buffer.from(LOADER_CONF_TEXT)],
    [LOADER_ENTRY, Buffer.from(loaderEntry(input.cmdline, input.osVersion))],
    [`${slotDir('a')}/vmlinuz`, input.vmlinuz],
    [`${slotDir('a')}/initramfs`, input.initramfs],
  ];
  const dirs = new Set<string>([slotDir('b')]); // the empty slot the agent writes the next release into
  for (const [path] of files) {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return { files, dirs: [...dirs].sort() };
}

async function buildEsp(input: DiskInput, file: string, sizeMiB: number): Promise<void> {
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(input.mtime), TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' };
  const stage = join(input.workDir, 'esp');
  await mkdir(stage, { recursive: true });
  const { files, dirs } = espFiles(input);
  await rm(file, { force: true });
  await run('mkfs.fat', ['-C', '--invariant', '-i', stableUuid(`${input.arch}:esp`).slice(0, 8), '-n', 'BOOTOS-EFI', '-F', '32', '-S', String(SECTOR_BYTES), file, String(sizeMiB * 1024)], { env });
  for (const d of dirs) await run('mmd', ['-i', file, `::/${d}`], { env });
  for (const [path, source] of files) {
    const local = join(stage, path.replaceAll('/', '_'));
    if (typeof source === 'string') await copyFile(source, local);
    else await writeFile(local, source);
    await utimes(local, input.mtime, input.mtime);
    await run('mcopy', ['-m', '-i', file, local, `::/${path}`], { env });
  }
}

async function buildData(input: DiskInput, file: string, sizeMiB: number): Promise<void> {
  const conf = join(input.workDir, 'mke2fs.conf');
  await writeFile(conf, MKE2FS_CONF);
  const empty = await mkdtemp(join(input.workDir, 'data-'));
  await utimes(empty, input.mtime, input.mtime);
  const env = { ...process.env, MKE2FS_CONFIG: conf, E2FSPROGS_FAKE_TIME: String(input.mtime), SOURCE_DATE_EPOCH: String(input.mtime) };
  await rm(file, { force: true });
  await run('mkfs.ext4', [
    '-q', '-F', '-t', 'ext4', '-L', 'BOOTOS-DATA',
    '-U', stableUuid(`${input.arch}:data-fs`),
    '-E', `root_owner=0:0,hash_seed=${stableUuid(`${input.arch}:data-hash`)},nodiscard,lazy_itable_init=0,lazy_journal_init=0`,
    '-d', empty, file, `${sizeMiB}M`,
  ], { env });
}

/** Copies `src` into `dest` at `offset`, skipping all-zero blocks (dest is a fresh sparse file). */
async function place(dest: string, src: string, offset: number): Promise<void> {
  const out = await open(dest, 'r+');
  const inp = await open(src, 'r');
  try {
    const buf = Buffer.alloc(MiB);
    for (let at = 0; ; at += MiB) {
      const { bytesRead } = await inp.read(buf, 0, MiB, at);
      if (!bytesRead) break;
      const chunk = buf.subarray(0, bytesRead);
      if (chunk.some((b) => b !== 0)) await out.write(chunk, 0, bytesRead, offset + at);
    }
  } finally {
    await inp.close();
    await out.close();
  }
}

export async function buildDisk(input: DiskInput): Promise<{ bytes: number }> {
  const layout = input.layout ?? DEFAULT_LAYOUT;
  const espStart = ESP_START_SECTOR;
  const espSectors = (layout.espMiB * MiB) / SECTOR_BYTES;
  const dataStart = espStart + espSectors;
  const dataSectors = (layout.dataMiB * MiB) / SECTOR_BYTES;
  const bytes = (dataStart + dataSectors) * SECTOR_BYTES + MiB; // + room for the backup GPT
  const esp = join(input.workDir, 'esp.img');
  const data = join(input.workDir, 'data.img');
  await buildEsp(input, esp, layout.espMiB);
  await buildData(input, data, layout.dataMiB);

  await rm(input.dest, { force: true });
  const fh = await open(input.dest, 'w');
  await fh.truncate(bytes);
  await fh.close();
  const script = [
    'label: gpt',
    `label-id: ${stableUuid(`${input.arch}:disk`)}`,
    'unit: sectors',
    'first-lba: 2048',
    `start=${espStart}, size=${espSectors}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=${stableUuid(`${input.arch}:esp-part`)}, name="EFI system"`,
    `start=${dataStart}, size=${dataSectors}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=${stableUuid(`${input.arch}:data-part`)}, name="BOOTOS-DATA"`,
    '',
  ].join('\n');
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', '--wipe', 'never', input.dest], { input: script });
  await place(input.dest, esp, espStart * SECTOR_BYTES);
  await place(input.dest, data, dataStart * SECTOR_BYTES);
  await rm(esp, { force: true });
  await rm(data, { force: true });
  return { bytes };
}
