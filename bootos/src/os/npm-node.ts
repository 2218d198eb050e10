// The Node binary from the npm packages node-linux-<arch> (`npm view`, `npm pack`).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { cacheDir } from '../../../fetcher/src/debian/cache.js';
import { run } from '../../../fetcher/src/core/proc.js';

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** The newest published x.y.z of `pkg` with major version `major`. */
export async function newestNode(pkg: string, major: string): Promise<string> {
  const { stdout } = await run('npm', ['view', `${pkg}@${major}`, 'version', '--json'], { code: 'OS_FETCH_FAILED' });
  let versions: unknown;
  try {
    versions = JSON.parse(stdout);
  } catch {
    throw new BootosError('OS_FETCH_FAILED', `npm view ${pkg}@${major}: unexpected output`);
  }
  const list = (Array.isArray(versions) ? versions : [versions]).filter((v): v is string => typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v));
  if (!list.length) throw new BootosError('OS_FETCH_FAILED', `npm view ${pkg}@${major}: no releases`);
  return list.sort(compareVersions).at(-1)!;
}

/** `npm pack pkg@version` into a temp dir; returns the tarball path and npm's integrity string. */
export async function packNode(pkg: string, version: string): Promise<{ file: string; integrity: string }> {
  const work = join(cacheDir(), 'npm');
  await mkdir(work, { recursive: true });
  const tmp = await mkdtemp(join(work, 'pack-'));
  try {
    const { stdout } = await run('npm', ['pack', `${pkg}@${version}`, '--pack-destination', tmp, '--json'], { code: 'OS_FETCH_FAILED' });
    const parsed: unknown = JSON.parse(stdout);
    const first = Array.isArray(parsed) ? (parsed[0] as Record<string, unknown> | undefined) : undefined;
    if (!first || typeof first.filename !== 'string' || typeof first.integrity !== 'string') {
      throw new BootosError('OS_FETCH_FAILED', `npm pack ${pkg}@${version}: unexpected output`);
    }
    return { file: join(tmp, first.filename.replace(/^@/, '').replace('/', '-')), integrity: first.integrity };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
