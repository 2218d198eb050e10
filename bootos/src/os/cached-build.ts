// A built image kept in the cache under the sha256 of everything that goes into it (recipe, lockfile, init files,
// the builder's own code, the agent bundle and its chunks, the kiosk, the trust root, the arch, the options): the
// demo, the end-to-end tests and the boot benchmark build once and boot that image until one of those inputs changes.
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { tempPathFor } from '../../../fetcher/src/core/fs.js';
import { BootosError, errnoCode } from '../../../fetcher/src/core/error.js';
import { sourceDateEpoch } from '../../../fetcher/src/core/source-date.js';
import { buildImage } from './build.js';
import { cacheDir } from '../../../fetcher/src/debian/cache.js';
import { exists } from '../../../fetcher/src/core/fs.js';
import { REPO_DIR, type Arch } from './recipe.js';

/** Built images kept; the least recently used beyond this are removed. */
export const KEEP_BUILT_IMAGES = 6;

export interface CachedBuildOptions {
  arch: Arch;
  rootJson: Buffer;
  noDisk?: boolean;
  /** The checkout whose recipe, builder and dist/ are used (default: this one). */
  repoDir?: string;
  progress?: (line: string) => void;
}

export interface CachedBuild {
  /** <cache>/images/<key>/<arch>: vmlinuz, initramfs, cmdline, bootos-<arch>.img (unless noDisk), pxe/. */
  dir: string;
  key: string;
  /** True when the image came from the cache. */
  cached: boolean;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch((err) => (errnoCode(err) === 'ENOENT' ? [] : Promise.reject(err)))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** The cache key: sha256 over every input's path and bytes. */
export async function buildKey(o: CachedBuildOptions): Promise<string> {
  const repo = o.repoDir ?? REPO_DIR;
  const bundle = join(repo, 'dist', 'agent.mjs');
  if (!(await exists(bundle))) throw new BootosError('FILE_NOT_FOUND', `agent bundle ${bundle} not found; run \`npm run build\` first`);
  const hash = createHash('sha256');
  const add = (name: string, bytes: Buffer | string) => {
    hash.update(`${name}\0${Buffer.byteLength(bytes)}\0`);
    hash.update(bytes);
  };
  add('arch', o.arch);
  add('options', JSON.stringify({ noDisk: o.noDisk ?? false, sourceDateEpoch: sourceDateEpoch() }));
  add('root.json', o.rootJson);
  const inputs = [
    ...(await filesUnder(join(repo, 'bootos', 'os'))),
    ...(await filesUnder(join(repo, 'bootos', 'src', 'os'))),
    ...(await filesUnder(join(repo, 'fetcher', 'src', 'debian'))),
    bundle,
    ...(await filesUnder(join(repo, 'dist', 'agent-chunks'))),
    ...(await filesUnder(join(repo, 'dist', 'kiosk'))),
  ];
  for (const file of inputs) add(relative(repo, file), await readFile(file));
  return hash.digest('hex').slice(0, 32);
}

async function prune(root: string, keep: string): Promise<void> {
  const entries = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (name === keep || name.includes('.tmp')) continue;
    const st = await stat(join(root, name)).catch(() => null);
    if (st) entries.push({ name, used: st.mtimeMs });
  }
  entries.sort((a, b) => b.used - a.used);
  for (const e of entries.slice(KEEP_BUILT_IMAGES - 1)) await rm(join(root, e.name), { recursive: true, force: true });
}

/** The image for these inputs: from the cache, or built (and then kept) when absent. */
export async function cachedBuild(o: CachedBuildOptions): Promise<CachedBuild> {
  const key = await buildKey(o);
  const root = join(cacheDir(), 'images');
  const entry = join(root, key);
  const dir = join(entry, o.arch);
  if (await exists(join(dir, 'SHA256SUMS'))) {
    const now = new Date();
    await utimes(entry, now, now).catch(() => {}); // most recently used
    o.progress?.(`${o.arch}: image ${key} from the cache`);
    return { dir, key, cached: true };
  }
  await mkdir(root, { recursive: true });
  const work = tempPathFor(entry);
  try {
    const agentDir = join(o.repoDir ?? REPO_DIR, 'dist');
    await buildImage({ arch: o.arch, rootJson: o.rootJson, outDir: work, noDisk: o.noDisk, agentDir, progress: o.progress });
    try {
      await rename(work, entry);
    } catch (err) {
      // Another build of the same inputs got there first: its bytes are the same.
      if (!['EEXIST', 'ENOTEMPTY'].includes(errnoCode(err) ?? '')) throw err;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await prune(root, key);
  return { dir, key, cached: false };
}
