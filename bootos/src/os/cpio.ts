// A deterministic newc (SVR4 "070701") cpio writer for the initramfs: entries sorted by path, parents first,
// mtime = SOURCE_DATE_EPOCH, uid/gid 0, inode numbers from the sorted position, no host metadata leaks in.
import { open } from 'node:fs/promises';
import type { Tree, Entry } from './tree.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

export interface CpioHeader {
  ino: number;
  mode: number;
  nlink: number;
  mtime: number;
  size: number;
  rdevMajor?: number;
  rdevMinor?: number;
}

export function cpioHeader(name: string, h: CpioHeader): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [
    h.ino, h.mode, 0, 0, h.nlink, h.mtime, h.size, 0, 0, h.rdevMajor ?? 0, h.rdevMinor ?? 0, nameBytes.length, 0,
  ];
  const head = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return Buffer.concat([head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length))]);
}

function modeOf(entry: Entry): number {
  switch (entry.type) {
    case 'dir':
      return S_IFDIR | entry.mode;
    case 'file':
      return S_IFREG | entry.mode;
    case 'symlink':
      return S_IFLNK | 0o777;
    case 'char':
      return S_IFCHR | entry.mode;
  }
}

/** Writes the tree as a newc archive to `sink` in chunks (so large files are never held twice). */
export async function writeCpio(tree: Tree, mtime: number, sink: (chunk: Buffer) => Promise<void> | void): Promise<number> {
  const paths = tree.sortedPaths();
  const subdirs = new Map<string, number>();
  for (const p of paths) {
    if (tree.get(p)!.type === 'dir' && p !== '') {
      const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
      subdirs.set(parent, (subdirs.get(parent) ?? 0) + 1);
    }
  }
  let total = 0;
  const emit = async (b: Buffer) => {
    total += b.length;
    await sink(b);
  };
  let ino = 0;
  for (const p of paths) {
    if (p === '') continue; // the archive's root is the rootfs itself
    const entry = tree.get(p)!;
    ino += 1;
    const base = { ino, mode: modeOf(entry), mtime, nlink: 1, size: 0 };
    if (entry.type === 'dir') {
      await emit(cpioHeader(p, { ...base, nlink: 2 + (subdirs.get(p) ?? 0) }));
    } else if (entry.type === 'symlink') {
      const target = Buffer.from(entry.target);
      await emit(cpioHeader(p, { ...base, size: target.length }));
      await emit(Buffer.concat([target, Buffer.alloc(pad4(target.length))]));
    } else if (entry.type === 'char') {
      await emit(cpioHeader(p, { ...base, rdevMajor: entry.major, rdevMinor: entry.minor }));
    } else {
      const src = entry.source;
      if (Buffer.isBuffer(src)) {
        await emit(cpioHeader(p, { ...base, size: src.length }));
        await emit(Buffer.concat([src, Buffer.alloc(pad4(src.length))]));
      } else {
        const fh = await open(src, 'r');
        try {
          const { size } = await fh.stat();
          await emit(cpioHeader(p, { ...base, size }));
          const chunk = Buffer.alloc(1 << 20);
          let at = 0;
          while (at < size) {
            const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, size - at), at);
            if (bytesRead === 0) throw new Error(`${src}: file shrank while archiving`);
            await emit(Buffer.from(chunk.subarray(0, bytesRead)));
            at += bytesRead;
          }
          await emit(Buffer.alloc(pad4(size)));
        } finally {
          await fh.close();
        }
      }
    }
  }
  await emit(cpioHeader('TRAILER!!!', { ino: 0, mode: 0, mtime: 0, nlink: 1, size: 0 }));
  return total;
}
