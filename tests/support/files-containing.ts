// The files under a directory (a registry's blobs, a cache's files) whose bytes contain a marker: the tests of
// encrypted images prove with it that no plaintext is stored, against a plain control where it is found.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function filesContaining(dir: string, marker: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    if ((await readFile(path)).includes(marker)) hits.push(path);
  }
  return hits;
}
