// bootos.lock.json: every input of the OS image pinned by exact version and sha256, per architecture.
// `bootos lock` (lockRecipe) refreshes it; the build (fetchInputs) only ever downloads what it pins.
import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../../fetcher/src/core/fs.js';
import { BootosError, errnoCode } from '../../../fetcher/src/core/error.js';
import { Reader, parseJson } from '../../../fetcher/src/core/guard.js';
import { Apt } from '../../../fetcher/src/debian/apt.js';
import { fetchDebs } from '../../../fetcher/src/debian/fetch-debs.js';
import { readDebPins, type DebPin } from '../../../fetcher/src/formats/deb-pin.js';
import { cachedBlob, commitBlob, sha256File } from '../../../fetcher/src/debian/cache.js';
import { newestNode, packNode } from './npm-node.js';
import { ARCHES, RECIPE_DIR, debianPackages, forArch, type Arch, type Recipe } from './recipe.js';

export interface NodePin {
  package: string;
  version: string;
  size: number;
  sha256: string;
  /** npm's own integrity string (sha512), for cross-checking with the registry. */
  integrity: string;
}

export interface ArchLock {
  /** The kernel metapackage of the recipe and the versioned kernel package it resolved to. */
  kernel: { metapackage: string; package: string };
  debian: Record<string, DebPin>;
  node: NodePin;
}

export interface Lockfile {
  lockVersion: 1;
  arches: Record<Arch, ArchLock>;
}

export const LOCK_PATH = `${RECIPE_DIR}bootos.lock.json`;
const HEX64 = /^[0-9a-f]{64}$/;

export function parseLockfile(bytes: Buffer | string, where = 'bootos.lock.json'): Lockfile {
  const r = new Reader('SCHEMA_INVALID', where);
  const top = r.object(parseJson(bytes, where), '', ['lockVersion', 'arches']);
  r.required(top, 'lockVersion', '', (v, p) => r.integer(v, p, 1, 1));
  const arches = r.required(top, 'arches', '', (v, p) => r.object(v, p, ARCHES));
  const out = {} as Record<Arch, ArchLock>;
  for (const arch of ARCHES) {
    out[arch] = r.required(arches, arch, 'arches', (v, p) => {
      const a = r.object(v, p, ['kernel', 'debian', 'node']);
      const kernel = r.required(a, 'kernel', p, (x, q) => {
        const k = r.object(x, q, ['metapackage', 'package']);
        return { metapackage: r.required(k, 'metapackage', q, (y, s) => r.string(y, s)), package: r.required(k, 'package', q, (y, s) => r.string(y, s)) };
      });
      const debian = r.required(a, 'debian', p, (x, q) => readDebPins(r, x, q));
      const node = r.required(a, 'node', p, (x, q) => {
        const o = r.object(x, q, ['package', 'version', 'size', 'sha256', 'integrity']);
        return {
          package: r.required(o, 'package', q, (y, s) => r.string(y, s)),
          version: r.required(o, 'version', q, (y, s) => r.string(y, s, /^\d+\.\d+\.\d+$/)),
          size: r.required(o, 'size', q, (y, s) => r.integer(y, s, 1)),
          sha256: r.required(o, 'sha256', q, (y, s) => r.string(y, s, HEX64, 'expected 64 hex digits')),
          integrity: r.required(o, 'integrity', q, (y, s) => r.string(y, s, /^sha512-/)),
        };
      });
      return { kernel, debian, node };
    });
  }
  return { lockVersion: 1, arches: out };
}

export async function loadLockfile(path = LOCK_PATH): Promise<Lockfile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('OS_LOCK_STALE', `${path} not found; run \`bootos lock\``);
    throw err;
  }
  return parseLockfile(bytes, path);
}

/** Checks that the lockfile pins everything the recipe names for `arch`; else OS_LOCK_STALE. */
export function checkLockCovers(recipe: Recipe, lock: Lockfile, arch: Arch): void {
  const a = lock.arches[arch];
  const stale = (what: string) => {
    throw new BootosError('OS_LOCK_STALE', `bootos.lock.json does not match bootos.yaml for ${arch}: ${what}; run \`bootos lock\``);
  };
  const meta = forArch(recipe.kernel.package, recipe.arches[arch]);
  if (a.kernel.metapackage !== meta) stale(`kernel ${meta} is not pinned`);
  for (const name of [...debianPackages(recipe, arch), a.kernel.package]) if (!a.debian[name]) stale(`package ${name} is not pinned`);
  if (a.node.package !== recipe.arches[arch].node || a.node.version.split('.')[0] !== recipe.node.version) {
    stale(`node ${recipe.arches[arch].node}@${recipe.node.version} is not pinned`);
  }
}

/** Resolves every input of the recipe to its newest version and writes the lockfile. */
export async function lockRecipe(recipe: Recipe, options: { path?: string; progress?: (line: string) => void } = {}): Promise<Lockfile> {
  const progress = options.progress ?? (() => {});
  const arches = {} as Record<Arch, ArchLock>;
  for (const arch of ARCHES) {
    const a = recipe.arches[arch];
    const apt = new Apt(a.debian);
    progress(`lock ${arch}: apt-get update (${a.debian})`);
    await apt.update();
    const metapackage = forArch(recipe.kernel.package, a);
    const kernelPackage = (await apt.depends(metapackage)).find((d) => d.startsWith('linux-image-'));
    if (!kernelPackage) throw new BootosError('OS_FETCH_FAILED', `${metapackage} (${a.debian}) depends on no linux-image package`);
    const debian: Record<string, DebPin> = {};
    for (const name of [...debianPackages(recipe, arch), kernelPackage].sort()) {
      debian[name] = await apt.candidate(name);
      progress(`lock ${arch}: ${name} ${debian[name]!.version}`);
    }
    const version = await newestNode(a.node, recipe.node.version);
    progress(`lock ${arch}: npm pack ${a.node}@${version}`);
    const packed = await packNode(a.node, version);
    const { sha256, size } = await sha256File(packed.file);
    if (!(await cachedBlob(sha256))) await commitBlob(packed.file, { sha256, size }, `${a.node}@${version}`);
    await rm(dirname(packed.file), { recursive: true, force: true });
    arches[arch] = {
      kernel: { metapackage, package: kernelPackage },
      debian,
      node: { package: a.node, version, size, sha256, integrity: packed.integrity },
    };
  }
  const lock: Lockfile = { lockVersion: 1, arches };
  await writeFileAtomic(options.path ?? LOCK_PATH, `${JSON.stringify(lock, null, 2)}\n`);
  return lock;
}

export interface Inputs {
  /** Path of each pinned .deb in the cache, by package name. */
  debs: Record<string, string>;
  /** Path of the node-linux-<arch> tarball in the cache. */
  node: string;
}

/** Every pinned input for `arch`, from the cache or downloaded and verified against the lockfile. */
export async function fetchInputs(lock: Lockfile, arch: Arch, debArch: string, progress: (line: string) => void = () => {}): Promise<Inputs> {
  const debs = await fetchDebs(lock.arches[arch].debian, debArch, { progress });
  return { debs, node: await fetchNode(lock, arch, progress) };
}

/** The pinned node-linux-<arch> tarball for `arch`, from the cache or downloaded and verified. */
export async function fetchNode(lock: Lockfile, arch: Arch, progress: (line: string) => void = () => {}): Promise<string> {
  const pin = lock.arches[arch].node;
  const cached = await cachedBlob(pin.sha256);
  if (cached) return cached;
  progress(`fetch ${arch}: npm pack ${pin.package}@${pin.version}`);
  const packed = await packNode(pin.package, pin.version);
  try {
    return await commitBlob(packed.file, pin, `${pin.package}@${pin.version}`);
  } finally {
    await rm(dirname(packed.file), { recursive: true, force: true });
  }
}
