// Deterministic gzip tar layers: the same files give the same bytes on any machine, from any path, at any time.
// Entries sorted by path; mtime = SOURCE_DATE_EPOCH (core/source-date.ts: default 2024-01-01); uid/gid 0 with empty names; modes normalized to
// 0755 (directories, executables; a directory entry may name its own mode, as the skeleton's 1777 /tmp does),
// 0644 (other files), 0777 (symlinks); gzip by fflate with a fixed header.
// fflate's output depends on how its input is chunked, so the tar stream is re-cut into fixed blocks first.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, open, readdir, readlink, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Gzip } from 'fflate';
import { pack } from 'tar-stream';
import { BootosError } from '../core/error.js';
import { sourceDateEpoch } from '../core/source-date.js';
import { tempPathFor } from '../core/fs.js';

/** Bump when the bytes written for the same entries change (layer-cache.ts keys cached layers by it). */
export const LAYER_FORMAT = 1;

export type LayerEntry =
  | { path: string; type: 'directory'; mode?: number }
  | { path: string; type: 'file'; source: string; size: number; executable: boolean }
  | { path: string; type: 'symlink'; target: string }
  /** A second name for the regular file at `target` (an image path, written earlier: it sorts before `path`). */
  | { path: string; type: 'hardlink'; target: string; executable: boolean };

/** Lists `from` (a folder or file on disk) as entries under `to` (an absolute path in the image). */
export async function collectEntries(from: string, to: string, exclude: (relative: string) => boolean = () => false): Promise<LayerEntry[]> {
  const base = to.replace(/^\/+/, '');
  const entries: LayerEntry[] = [];
  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    const path = rel ? posix.join(base, rel) : base;
    if (st.isDirectory()) {
      if (path) entries.push({ path, type: 'directory' });
      for (const name of await readdir(abs)) {
        const childRel = rel ? `${rel}/${name}` : name;
        if (!exclude(childRel)) await visit(join(abs, name), childRel);
      }
    } else if (st.isFile()) {
      entries.push({ path, type: 'file', source: abs, size: st.size, executable: (st.mode & 0o100) !== 0 });
    } else if (st.isSymbolicLink()) {
      entries.push({ path, type: 'symlink', target: await readlink(abs) });
    } else {
      throw new BootosError('IMAGE_INVALID', `${abs}: only files, folders and symlinks can go into an image`);
    }
  };
  await visit(from, '');
  return entries;
}

/** Adds the parent directories of every entry, drops duplicates and sorts by path (bytewise). */
export function normalizeEntries(entries: LayerEntry[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const entry of entries) {
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!byPath.has(dir)) byPath.set(dir, { path: dir, type: 'directory' });
    }
    const existing = byPath.get(entry.path);
    if (existing && !(existing.type === 'directory' && entry.type === 'directory')) {
      throw new BootosError('IMAGE_INVALID', `${entry.path} appears twice in the image (as a ${existing.type} and a ${entry.type})`);
    }
    byPath.set(entry.path, entry);
  }
  return [...byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

export interface WrittenLayer {
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar (the OCI diff_id). */
  diffId: string;
  path: string;
}

const BLOCK = 1 << 20;

/**
 * Writes the entries as a gzip tar to a temp file in `dir` and returns its digest; the caller renames it into place.
 * Memory stays bounded: files are streamed, and at most one block waits for the compressor.
 */
export async function writeLayer(entries: LayerEntry[], dir: string, epoch = sourceDateEpoch()): Promise<WrittenLayer> {
  const mtime = new Date(epoch * 1000);
  const tmp = tempPathFor(join(dir, 'layer'));
  const fh = await open(tmp, 'wx', 0o644);
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  let size = 0;
  let pendingWrite = Promise.resolve();
  const gzip = new Gzip({ level: 6, mtime: 0 }, (chunk) => {
    blobHash.update(chunk);
    size += chunk.length;
    const copy = Buffer.from(chunk);
    pendingWrite = pendingWrite.then(() => fh.write(copy).then(() => undefined));
  });
  let block: Buffer = Buffer.alloc(0);
  const push = (data: Buffer, final = false) => {
    tarHash.update(data);
    block = block.length ? Buffer.concat([block, data]) : data;
    while (block.length >= BLOCK) {
      gzip.push(block.subarray(0, BLOCK));
      block = block.subarray(BLOCK);
    }
    if (final) gzip.push(block, true);
  };
  try {
    const tar = pack();
    const consumed = (async () => {
      for await (const chunk of tar) {
        push(chunk as Buffer);
        await pendingWrite;
      }
      push(Buffer.alloc(0), true);
    })();
    for (const entry of normalizeEntries(entries)) {
      const header = { name: entry.path, mtime, uid: 0, gid: 0, uname: '', gname: '' };
      if (entry.type === 'directory') {
        tar.entry({ ...header, type: 'directory', mode: entry.mode ?? 0o755 });
      } else if (entry.type === 'symlink') {
        tar.entry({ ...header, type: 'symlink', mode: 0o777, linkname: entry.target });
      } else if (entry.type === 'hardlink') {
        tar.entry({ ...header, type: 'link', mode: entry.executable ? 0o755 : 0o644, linkname: entry.target });
      } else {
        const stream = tar.entry({ ...header, type: 'file', mode: entry.executable ? 0o755 : 0o644, size: entry.size });
        await new Promise<void>((resolve, reject) => {
          createReadStream(entry.source).on('error', reject).pipe(stream).on('finish', resolve).on('error', reject);
        });
      }
    }
    tar.finalize();
    await consumed;
    await pendingWrite;
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return { digest: `sha256:${blobHash.digest('hex')}`, size, diffId: `sha256:${tarHash.digest('hex')}`, path: tmp };
}

