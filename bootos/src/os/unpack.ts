// The Node binary from its npm tarball, cached by the sha256 of the tarball (optionally with its ICU data trimmed to
// English and stripped of what no loader reads). Debian packages are unpacked by fetcher/src/debian/unpack-deb.ts.
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { cachedDir, sha256File } from '../../../fetcher/src/debian/cache.js';
import { stripExecutable } from './elf.js';
import { ICU_SMALL_TAG, trimNodeIcu } from './icu.js';
import type { NodeIcu } from './recipe.js';

/** Path of bin/node from a node-linux-<arch> tarball (ICU data trimmed, then stripped, when asked). */
export async function unpackNode(tgz: string, options: { strip: boolean; icu: NodeIcu }): Promise<string> {
  const { sha256 } = await sha256File(tgz);
  const key = `${sha256}${options.icu === 'small' ? `-${ICU_SMALL_TAG}` : ''}${options.strip ? '-stripped' : ''}`;
  const dir = await cachedDir('node', key, async (out) => {
    const extract = tar.extract();
    let found: Buffer | null = null;
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        if (header.name === 'package/bin/node' && Buffer.isBuffer(c)) chunks.push(c);
      });
      stream.on('end', () => {
        if (header.name === 'package/bin/node') found = Buffer.concat(chunks);
        next();
      });
      stream.resume();
    });
    await pipeline(createReadStream(tgz), createGunzip(), extract);
    let node: Buffer | null = found;
    if (!node) throw new BootosError('OS_TREE_INVALID', `${tgz}: no package/bin/node`);
    // The ICU data is found through .dynsym's section header, so it is trimmed before stripping drops those.
    if (options.icu === 'small') node = await trimNodeIcu(node, 'node');
    if (options.strip) node = stripExecutable(node, 'node');
    await writeFile(join(out, 'node'), node, { mode: 0o755 });
  });
  return join(dir, 'node');
}

/** The applet names compiled into a busybox binary (its sorted, NUL-separated applet_names table). */
export async function busyboxApplets(binary: string): Promise<string[]> {
  const bytes = await readFile(binary);
  const start = bytes.indexOf(Buffer.from('[\0[[\0'));
  if (start < 0) throw new BootosError('OS_TREE_INVALID', `${binary}: no applet table`);
  const end = bytes.indexOf(Buffer.from('\0\0'), start);
  const names = bytes.toString('latin1', start, end).split('\0');
  if (names.length < 50 || !names.includes('sh') || names.some((n) => !/^[[a-z0-9._-]+$/.test(n))) {
    throw new BootosError('OS_TREE_INVALID', `${binary}: unexpected applet table`);
  }
  return names;
}
