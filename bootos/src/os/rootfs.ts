// The image's root tree: busybox and its applet links, node, runc, the libraries they need, the chosen kernel
// modules, the trust root, /init and the other files of the recipe, the agent bundle (agent.mjs and its chunks),
// the kiosk and generated config.
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { BootosError } from '../../../fetcher/src/core/error.js';
import type { Inputs, Lockfile } from './lockfile.js';
import { selectModules, type ModuleSet } from './modules.js';
import type { Arch, Recipe } from './recipe.js';
import { kernelModules } from './recipe.js';
import { Tree } from './tree.js';
import { busyboxApplets, unpackNode } from './unpack.js';
import { unpackDeb } from '../../../fetcher/src/debian/unpack-deb.js';

export interface RootfsInputs {
  recipe: Recipe;
  lock: Lockfile;
  arch: Arch;
  inputs: Inputs;
  rootJson: Buffer;
  /** The device agent: dist/agent.mjs (bootos/src/agent/main.ts) and the chunks it imports (dist/agent-chunks/). */
  agent: { bundle: Buffer; chunksDir: string };
  /** dist/kiosk when it exists. */
  kioskDir?: string;
}

export interface Rootfs {
  /** What comes from pinned inputs, except /usr: busybox, glibc, kernel modules (changes only with the lockfile). */
  base: Tree;
  /** /usr from pinned inputs (node, runc, their libraries), rooted at usr/: goes into the squashfs. */
  usr: Tree;
  /** The configuration layer: init scripts, trust root, agent bundle (small). */
  config: Tree;
  kernel: { version: string; vmlinuz: string; unpacked: string };
  modules: ModuleSet;
}

function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function listTree(dir: string, base = dir, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(relative(base, p));
    if (e.isDirectory()) await listTree(p, base, out);
  }
  return out;
}

/** Where a package's file goes in the image: the image's /sbin is a link to /bin, so `sbin/X` is put at `bin/X`. */
function imagePath(p: string): string {
  return p.startsWith('sbin/') ? `bin/${p.slice('sbin/'.length)}` : p;
}

/** Adds the files of an unpacked package that match the globs (files and symlinks; directories follow). */
async function addPackageFiles(tree: Tree, unpacked: string, globs: string[], what: string): Promise<void> {
  const all = await listTree(unpacked);
  for (const glob of globs) {
    const re = globRegExp(glob);
    const hits = all.filter((p) => re.test(p));
    if (!hits.length) throw new BootosError('OS_TREE_INVALID', `${what}: no file matches ${glob}`);
    for (const p of hits) {
      const src = join(unpacked, p);
      const st = await lstat(src);
      if (st.isSymbolicLink()) tree.symlink(imagePath(p), await readlink(src), true);
      else if (st.isFile()) tree.file(imagePath(p), src, st.mode & 0o111 ? 0o755 : 0o644, true);
    }
  }
}

async function addDirFiles(tree: Tree, dir: string, at: string): Promise<void> {
  for (const p of (await listTree(dir)).sort()) {
    const st = await lstat(join(dir, p));
    if (st.isFile()) tree.file(`${at}/${p}`, join(dir, p), 0o644);
  }
}

export async function assembleRootfs(input: RootfsInputs): Promise<Rootfs> {
  const { recipe, lock, arch, inputs } = input;
  const pins = lock.arches[arch];
  const base = new Tree();
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'root', 'etc', 'var/lib/bootos', 'usr/lib/bootos']) base.dir(d);
  base.dir('tmp', 0o1777);
  base.dir('root', 0o700);
  base.char('dev/console', 5, 1, 0o600);
  base.char('dev/null', 1, 3, 0o666);

  for (const pkg of recipe.packages) {
    const deb = inputs.debs[pkg.name];
    if (!deb) throw new BootosError('OS_LOCK_STALE', `${pkg.name} is not pinned for ${arch}; run \`bootos lock\``);
    await addPackageFiles(base, await unpackDeb(deb), pkg.files, pkg.name);
  }

  // busybox: one link per applet in /bin (sbin is /bin), never over a real file.
  const busybox = join(await unpackDeb(inputs.debs['busybox-static']!), 'bin/busybox');
  base.symlink('sbin', 'bin');
  for (const applet of await busyboxApplets(busybox)) {
    if (applet !== 'busybox' && !base.has(`bin/${applet}`)) base.symlink(`bin/${applet}`, 'busybox');
  }

  base.file('usr/bin/node', await unpackNode(inputs.node, recipe.node), 0o755);

  // Kernel and modules.
  const kernelRoot = await unpackDeb(inputs.debs[pins.kernel.package]!);
  const modules = await selectModules(kernelRoot, kernelModules(recipe, arch));
  const modDir = `lib/modules/${modules.kernelVersion}`;
  for (const rel of modules.loadOrder) base.file(`${modDir}/${rel}`, join(kernelRoot, modDir, rel), 0o644);
  base.file(`${modDir}/modules.dep`, Buffer.from(modules.modulesDep));
  base.file(`${modDir}/modules.alias`, Buffer.from(modules.modulesAlias));
  base.file(`${modDir}/modules.builtin`, join(kernelRoot, modDir, 'modules.builtin'));
  const vmlinuz = join(kernelRoot, 'boot', `vmlinuz-${modules.kernelVersion}`);
  base.checkLinks();
  // /usr becomes the squashfs; /usr/lib/bootos stays in it as the mount point of the configuration's folder.
  const usr = base.split('usr');
  usr.dir('lib/bootos');
  base.dir('usr');

  // The configuration layer.
  const config = new Tree();
  for (const f of recipe.files) config.file(f.path, await readFile(join(recipe.filesDir, f.source)), f.mode);
  config.file('etc/bootos/root.json', input.rootJson, 0o644);
  config.file('etc/bootos/agent', Buffer.from(`${recipe.agent}\n`));
  config.file('etc/hostname', Buffer.from('bootos\n'));
  config.file('usr/lib/bootos/agent.mjs', input.agent.bundle, 0o644);
  await addDirFiles(config, input.agent.chunksDir, 'usr/lib/bootos/agent-chunks');
  if (input.kioskDir) await addDirFiles(config, input.kioskDir, 'usr/lib/bootos/kiosk');
  const release = {
    arch,
    kernel: `${pins.kernel.package} ${pins.debian[pins.kernel.package]!.version}`,
    node: `${pins.node.package} ${pins.node.version}`,
    runc: pins.debian.runc?.version ?? null,
    busybox: pins.debian['busybox-static']?.version ?? null,
  };
  config.file('etc/bootos/release.json', Buffer.from(`${JSON.stringify(release, null, 2)}\n`));
  for (const p of config.sortedPaths()) {
    if (p.startsWith('usr/') && p !== 'usr/lib' && p !== 'usr/lib/bootos' && !p.startsWith('usr/lib/bootos/')) {
      throw new BootosError('OS_TREE_INVALID', `/${p}: files under /usr must be in /usr/lib/bootos (the rest of /usr is the read-only squashfs)`);
    }
  }
  return { base, usr, config, kernel: { version: modules.kernelVersion, vmlinuz, unpacked: kernelRoot }, modules };
}
