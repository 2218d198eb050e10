// `bootos build`: recipe + lockfile + trust root → out/<arch>/ {vmlinuz, initramfs, cmdline, bootos-<arch>.img,
// pxe/, SHA256SUMS}. Inputs come from the cache or are downloaded and verified; the same inputs give the same bytes.
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { tempPathFor } from '../../../fetcher/src/core/fs.js';
import { sourceDateEpoch } from '../../../fetcher/src/core/source-date.js';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { parseJson } from '../../../fetcher/src/core/guard.js';
import { readRoot } from '../../../fetcher/src/formats/trust-docs.js';
import { sha256File } from '../../../fetcher/src/debian/cache.js';
import { exists } from '../../../fetcher/src/core/fs.js';
import { buildDisk } from './disk.js';
import { writeInitramfs } from './initramfs.js';
import { checkLockCovers, fetchInputs, loadLockfile, type Lockfile } from './lockfile.js';
import { writePxe } from './pxe.js';
import { REPO_DIR as REPO, loadRecipe, forArch, type Arch, type Recipe } from './recipe.js';
import { assembleRootfs } from './rootfs.js';
import { buildSquashfs, squashfsOptions } from './squashfs.js';
import { Tree } from './tree.js';
import { unpackDeb } from '../../../fetcher/src/debian/unpack-deb.js';



export interface BuildOptions {
  arch: Arch;
  /** The trust root baked into the image (root.json bytes). */
  rootJson: Buffer;
  /** Where rootJson was read from, for messages (default "root.json"). */
  rootName?: string;
  /** Parent folder; the build writes <outDir>/<arch>/. */
  outDir: string;
  recipe?: Recipe;
  lock?: Lockfile;
  /** The folder of the agent bundle: agent.mjs, agent-chunks/ and kiosk/ (`npm run build`); default dist/ of this checkout. */
  agentDir?: string;
  sourceDateEpoch?: number;
  /** Skip the disk image (PXE/direct boot only). */
  noDisk?: boolean;
  /** The OS version the disk image's slot a says it runs (docs/os-updates.md); default "0" (older than any release). */
  osVersion?: string;
  progress?: (line: string) => void;
}

export interface BuildResult {
  dir: string;
  files: Array<{ name: string; sha256: string; bytes: number }>;
  kernelVersion: string;
  seconds: number;
}

export function kernelCmdline(recipe: Recipe, arch: Arch): string {
  return [`console=tty0 console=${recipe.arches[arch].console}`, recipe.kernel.cmdline].filter(Boolean).join(' ');
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(relative(base, p));
  }
  return out.sort();
}

export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const progress = options.progress ?? (() => {});
  const step = (line: string) => progress(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${options.arch}: ${line}`);
  const { arch } = options;
  const mtime = options.sourceDateEpoch ?? sourceDateEpoch();
  const recipe = options.recipe ?? (await loadRecipe());
  const lock = options.lock ?? (await loadLockfile());
  checkLockCovers(recipe, lock, arch);
  const rootName = options.rootName ?? 'root.json';
  readRoot(parseJson(options.rootJson, rootName), rootName); // a trust root the agent will accept
  const agentDir = options.agentDir ?? join(REPO, 'dist');
  const agentPath = join(agentDir, 'agent.mjs');
  const chunksDir = join(agentDir, 'agent-chunks');
  for (const path of [agentPath, chunksDir]) {
    if (!(await exists(path))) throw new BootosError('FILE_NOT_FOUND', `agent bundle ${path} not found; run \`npm run build\` first`);
  }
  const kioskDir = join(agentDir, 'kiosk');

  step('inputs (cache or download, verified against bootos.lock.json)');
  const inputs = await fetchInputs(lock, arch, recipe.arches[arch].debian, step);
  step('root tree');
  const rootfs = await assembleRootfs({
    recipe,
    lock,
    arch,
    inputs,
    rootJson: options.rootJson,
    agent: { bundle: await readFile(agentPath), chunksDir },
    kioskDir: (await exists(kioskDir)) ? kioskDir : undefined,
  });

  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const finalDir = join(outDir, arch);
  const work = tempPathFor(finalDir);
  const dir = join(work, arch);
  await mkdir(dir, { recursive: true });
  try {
    const cmdline = kernelCmdline(recipe, arch);
    const sqOptions = squashfsOptions(arch);
    step(`/usr squashfs (${rootfs.usr.size} entries, ${sqOptions.comp}${sqOptions.bcj ? ` bcj ${sqOptions.bcj}` : ''}, ${sqOptions.blockKiB} KiB blocks)`);
    const sq = await buildSquashfs(rootfs.usr, mtime, sqOptions);
    step(`/usr squashfs ${(sq.bytes / 2 ** 20).toFixed(1)} MiB${sq.cached ? ' (from cache)' : ''}`);
    const sqTree = new Tree();
    sqTree.file('usr.squashfs', sq.path, 0o444);
    step(`initramfs (${rootfs.base.size + rootfs.config.size} entries, zstd)`);
    const initramfs = join(dir, 'initramfs');
    const ir = await writeInitramfs(
      [
        { name: 'usr.squashfs', tree: sqTree, cache: false, compress: false },
        { name: 'base', tree: rootfs.base, cache: true },
        { name: 'config', tree: rootfs.config, cache: false },
      ],
      mtime,
      initramfs,
    );
    step(`initramfs ${(ir.bytes / 2 ** 20).toFixed(1)} MiB${ir.segments[1]?.cached ? ' (base segment from cache)' : ''}`);
    const vmlinuz = join(dir, 'vmlinuz');
    await copyFile(rootfs.kernel.vmlinuz, vmlinuz);
    await writeFile(join(dir, 'cmdline'), `${cmdline}\n`);

    if (!options.noDisk) {
      step('disk image (GPT, ESP with systemd-boot, BOOTOS-DATA ext4)');
      const efi = recipe.arches[arch].efi;
      const bootloaderDeb = inputs.debs[forArch(recipe.efi.package, recipe.arches[arch])]!;
      await buildDisk({
        arch,
        efiName: `BOOT${efi.toUpperCase()}.EFI`,
        bootloader: join(await unpackDeb(bootloaderDeb), forArch(recipe.efi.file, recipe.arches[arch])),
        vmlinuz,
        initramfs,
        cmdline: `${cmdline} bootos.data_wait=10`,
        ...(options.osVersion !== undefined ? { osVersion: options.osVersion } : {}),
        mtime,
        dest: join(dir, `bootos-${arch}.img`),
        workDir: work,
      });
    }
    step('PXE bundle');
    await writePxe(join(dir, 'pxe'), { arch, vmlinuz, initramfs, cmdline, mtime });

    const files = [];
    for (const name of await listFiles(dir)) {
      const { sha256, size } = await sha256File(join(dir, name));
      files.push({ name, sha256, bytes: size });
    }
    await writeFile(join(dir, 'SHA256SUMS'), files.map((f) => `${f.sha256}  ${f.name}\n`).join(''));
    for (const name of [...files.map((f) => f.name), 'SHA256SUMS']) await utimes(join(dir, name), mtime, mtime);

    // Swap the finished folder in: a reader never sees a half-written out/<arch>/.
    const old = `${work}-old`;
    if (await exists(finalDir)) await rename(finalDir, old);
    await rename(dir, finalDir);
    await rm(old, { recursive: true, force: true });
    const seconds = (Date.now() - started) / 1000;
    step(`done in ${seconds.toFixed(1)}s → ${finalDir}`);
    return { dir: finalDir, files, kernelVersion: rootfs.kernel.version, seconds };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
