// The initramfs: newc cpio archives, zstd-compressed or stored, concatenated (the kernel unpacks each in turn).
// The build's segments: /usr.squashfs (stored: it is compressed already), the base from pinned inputs (cached by the
// sha256 of its uncompressed bytes), the configuration (init, trust root, agent). Same trees → same bytes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempPathFor } from '../../../fetcher/src/core/fs.js';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { cacheDir } from '../../../fetcher/src/debian/cache.js';
import { exists } from '../../../fetcher/src/core/fs.js';
import { writeCpio } from './cpio.js';
import type { Tree } from './tree.js';

/**
 * zstd level. With Node in the squashfs the compressed cpio is ~15 MB (busybox, glibc, modules), where 19 costs
 * a few seconds and saves ~5 % over 12 (docs/decisions.md).
 */
export const ZSTD_LEVEL = 19;

/** Compresses the cpio stream of `tree` with zstd into `dest`; returns the uncompressed sha256. */
async function compressTree(tree: Tree, mtime: number, dest: string): Promise<{ sha256: string; rawBytes: number }> {
  // -T1 --no-check-free: single-threaded, deterministic output for a given zstd version; no content size (streamed).
  const child = spawn('zstd', [`-${ZSTD_LEVEL}`, '-T1', '-q', '-c', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = await open(dest, 'w');
  const errors: Buffer[] = [];
  child.stderr.on('data', (d: Buffer) => errors.push(d));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new BootosError('OS_TOOL_FAILED', `zstd: cannot run (${e.message}); install the zstd package`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new BootosError('OS_TOOL_FAILED', `zstd exited with ${code}: ${Buffer.concat(errors)}`))));
  });
  const written = (async () => {
    for await (const chunk of child.stdout) await out.write(chunk as Buffer);
  })();
  const hash = createHash('sha256');
  try {
    const rawBytes = await writeCpio(tree, mtime, (chunk) => {
      hash.update(chunk);
      if (!child.stdin.write(chunk)) return new Promise<void>((r) => child.stdin.once('drain', () => r()));
    });
    child.stdin.end();
    await Promise.all([done, written]);
    return { sha256: hash.digest('hex'), rawBytes };
  } finally {
    await out.close();
  }
}

export interface InitramfsResult {
  bytes: number;
  rawBytes: number;
  /** rawBytes is -1 for a segment taken from the cache. */
  segments: Array<{ name: string; rawBytes: number; cached: boolean }>;
}

/** `compress: false` stores the cpio as it is (for already compressed contents such as a squashfs). */
export interface Segment {
  name: string;
  tree: Tree;
  cache: boolean;
  compress?: boolean;
}

/** Writes the cpio of `tree` uncompressed into `dest`. */
async function storeTree(tree: Tree, mtime: number, dest: string): Promise<number> {
  const out = await open(dest, 'w');
  try {
    return await writeCpio(tree, mtime, async (chunk) => void (await out.write(chunk)));
  } finally {
    await out.close();
  }
}

export async function writeInitramfs(segments: Segment[], mtime: number, dest: string): Promise<InitramfsResult> {
  const parts: string[] = [];
  const info: InitramfsResult['segments'] = [];
  const tmpDir = tempPathFor(dest);
  await mkdir(tmpDir, { recursive: true });
  try {
    for (const [i, seg] of segments.entries()) {
      const part = join(tmpDir, `part${i}`);
      if (seg.compress === false) {
        const rawBytes = await storeTree(seg.tree, mtime, part);
        parts.push(part);
        info.push({ name: seg.name, rawBytes, cached: false });
        continue;
      }
      let key: string | null = null;
      if (seg.cache) {
        // The compressed segment is reused by later builds of the same uncompressed bytes (zstd is the slow step).
        const hash = createHash('sha256');
        await writeCpio(seg.tree, mtime, (chunk) => void hash.update(chunk));
        key = join(cacheDir(), 'initramfs', `${hash.digest('hex')}.zst${ZSTD_LEVEL}`);
        if (await exists(key)) {
          await copyFile(key, part);
          parts.push(part);
          info.push({ name: seg.name, rawBytes: -1, cached: true });
          continue;
        }
      }
      const { sha256, rawBytes } = await compressTree(seg.tree, mtime, part);
      if (key) {
        if (!key.includes(sha256)) throw new BootosError('OS_TREE_INVALID', `${seg.name}: the tree changed while it was archived`);
        await mkdir(join(key, '..'), { recursive: true });
        await copyFile(part, `${key}.tmp`);
        await rename(`${key}.tmp`, key);
      }
      parts.push(part);
      info.push({ name: seg.name, rawBytes, cached: false });
    }
    const out = await open(dest, 'w');
    let bytes = 0;
    try {
      for (const [i, part] of parts.entries()) {
        // A stored cpio must start on a 4-byte boundary of the whole initramfs (the kernel skips zero padding).
        if (segments[i]!.compress === false && bytes % 4) {
          const pad = Buffer.alloc(4 - (bytes % 4));
          await out.write(pad);
          bytes += pad.length;
        }
        const fh = await open(part, 'r');
        try {
          for await (const chunk of fh.createReadStream()) {
            await out.write(chunk as Buffer);
            bytes += (chunk as Buffer).length;
          }
        } finally {
          await fh.close();
        }
      }
    } finally {
      await out.close();
    }
    return { bytes, rawBytes: info.reduce((a, s) => a + Math.max(0, s.rawBytes), 0), segments: info };
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}
