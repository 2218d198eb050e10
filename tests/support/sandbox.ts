// A sandbox for hostile-archive tests: a base directory holding a store and, beside it, files an attack would
// like to change. snapshot() records everything outside the store so a test can assert that nothing there changed.
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { tempDir } from './registry.js';

export interface Sandbox {
  base: string;
  storeDir: string;
  victim: string;
  snapshot(): Promise<Map<string, string>>;
}

export async function makeSandbox(): Promise<Sandbox> {
  const base = await tempDir('bootos-sandbox-');
  const storeDir = join(base, 'store');
  await mkdir(join(base, 'outside'), { recursive: true });
  const victim = join(base, 'outside', 'victim.txt');
  await writeFile(victim, 'original\n');
  const snapshot = async () => {
    const seen = new Map<string, string>();
    const walk = async (dir: string) => {
      for (const name of (await readdir(dir)).sort()) {
        const path = join(dir, name);
        if (path === storeDir) continue;
        const st = await lstat(path);
        const rel = relative(base, path);
        if (st.isDirectory()) {
          seen.set(rel, `dir ${st.mode.toString(8)}`);
          await walk(path);
        } else if (st.isSymbolicLink()) seen.set(rel, `link ${await readlink(path)}`);
        else seen.set(rel, `file ${st.mode.toString(8)} ${createHash('sha256').update(await readFile(path)).digest('hex')}`);
      }
    };
    await walk(base);
    return seen;
  };
  return { base, storeDir, victim, snapshot };
}

/** What is in the store's roots/, refs/ and tmp/ (all empty after a refused pull). */
export async function storeLeftovers(storeDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['roots', 'refs', 'tmp']) {
    try {
      for (const name of await readdir(join(storeDir, sub))) out.push(`${sub}/${name}`);
    } catch {
      /* not created */
    }
  }
  return out;
}
