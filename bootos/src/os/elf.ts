// Just enough ELF64 (little-endian: x86_64 and aarch64) for the image: read a kernel module's .modinfo, find an
// exported symbol's bytes in an executable (.dynsym), and drop what no loader reads (section headers, symbols, debug
// info) from an executable without changing a loaded byte.
import { BootosError } from '../../../fetcher/src/core/error.js';

const PT_LOAD = 1;
const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const SYM_ENTRY_BYTES = 24;

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
}

/** Where an exported symbol's bytes are in the file. */
export interface SymbolBytes {
  name: string;
  offset: number;
  size: number;
}

function header(buf: Buffer, what: string) {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) {
    throw new BootosError('OS_TREE_INVALID', `${what}: not a little-endian ELF64 file`);
  }
  return {
    phoff: Number(buf.readBigUInt64LE(0x20)),
    shoff: Number(buf.readBigUInt64LE(0x28)),
    phentsize: buf.readUInt16LE(0x36),
    phnum: buf.readUInt16LE(0x38),
    shentsize: buf.readUInt16LE(0x3a),
    shnum: buf.readUInt16LE(0x3c),
    shstrndx: buf.readUInt16LE(0x3e),
  };
}

/** The program headers (what the kernel and the dynamic loader read). */
function segments(buf: Buffer, what: string): Segment[] {
  const h = header(buf, what);
  const out = [];
  for (let i = 0; i < h.phnum; i++) {
    const at = h.phoff + i * h.phentsize;
    if (at + 56 > buf.length) throw new BootosError('OS_TREE_INVALID', `${what}: program header out of bounds`);
    out.push({
      type: buf.readUInt32LE(at),
      offset: Number(buf.readBigUInt64LE(at + 0x08)),
      vaddr: Number(buf.readBigUInt64LE(at + 0x10)),
      filesz: Number(buf.readBigUInt64LE(at + 0x20)),
    });
  }
  return out;
}

/** The section headers with their names (gone from a stripped executable). */
function sections(buf: Buffer, what: string): Section[] {
  const h = header(buf, what);
  if (h.shnum === 0) return []; // stripped
  const raw = [];
  for (let i = 0; i < h.shnum; i++) {
    const at = h.shoff + i * h.shentsize;
    if (at + 64 > buf.length) throw new BootosError('OS_TREE_INVALID', `${what}: section header out of bounds`);
    const s = {
      nameOff: buf.readUInt32LE(at),
      type: buf.readUInt32LE(at + 0x04),
      offset: Number(buf.readBigUInt64LE(at + 0x18)),
      size: Number(buf.readBigUInt64LE(at + 0x20)),
      link: buf.readUInt32LE(at + 0x28),
    };
    if (s.type !== SHT_NOBITS && s.offset + s.size > buf.length) throw new BootosError('OS_TREE_INVALID', `${what}: section ${i} out of bounds`);
    raw.push(s);
  }
  const strtab = raw[h.shstrndx];
  if (!strtab) throw new BootosError('OS_TREE_INVALID', `${what}: no section name table`);
  return raw.map((s) => ({ name: cString(buf, strtab.offset + s.nameOff, strtab.offset + strtab.size), type: s.type, offset: s.offset, size: s.size, link: s.link }));
}

function cString(buf: Buffer, start: number, limit: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('latin1', start, end < 0 || end > limit ? limit : end);
}

/** The key=value pairs of a kernel module's .modinfo section (a key may repeat). */
export function modinfo(buf: Buffer, what: string): Array<[string, string]> {
  const s = sections(buf, what).find((x) => x.name === '.modinfo');
  if (!s) throw new BootosError('OS_TREE_INVALID', `${what}: no .modinfo section`);
  return buf
    .toString('latin1', s.offset, s.offset + s.size)
    .split('\0')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]);
}

/**
 * The file bytes of the first defined symbol in .dynsym whose name is `name` (or matches it), or undefined when
 * there is none. Needs the section headers: look up before `stripExecutable`.
 */
export function findDynamicSymbol(buf: Buffer, name: string | RegExp, what: string): SymbolBytes | undefined {
  const all = sections(buf, what);
  const dynsym = all.find((s) => s.type === SHT_DYNSYM);
  const strtab = dynsym && all[dynsym.link];
  if (!dynsym || !strtab) return undefined;
  const matches = typeof name === 'string' ? (n: string) => n === name : (n: string) => name.test(n);
  for (let at = dynsym.offset + SYM_ENTRY_BYTES; at + SYM_ENTRY_BYTES <= dynsym.offset + dynsym.size; at += SYM_ENTRY_BYTES) {
    const shndx = buf.readUInt16LE(at + 6);
    if (shndx === 0) continue; // undefined: imported from a library
    const symName = cString(buf, strtab.offset + buf.readUInt32LE(at), strtab.offset + strtab.size);
    if (!matches(symName)) continue;
    const vaddr = Number(buf.readBigUInt64LE(at + 8));
    const size = Number(buf.readBigUInt64LE(at + 16));
    // The loaded segment that holds the symbol's bytes maps its address to a file offset.
    const seg = segments(buf, what).find((p) => p.type === PT_LOAD && vaddr >= p.vaddr && vaddr + size <= p.vaddr + p.filesz);
    if (!seg || seg.offset + seg.filesz > buf.length) throw new BootosError('OS_TREE_INVALID', `${what}: symbol ${symName} is not in the file's loaded bytes`);
    return { name: symName, offset: seg.offset + (vaddr - seg.vaddr), size };
  }
  return undefined;
}

/**
 * The bytes of an executable that the kernel and the dynamic loader read: everything up to the end of the last
 * segment, with the section header table dropped (e_shoff = e_shnum = e_shstrndx = 0). Like `sstrip`.
 */
export function stripExecutable(buf: Buffer, what: string): Buffer {
  const h = header(buf, what);
  let end = h.phoff + h.phnum * h.phentsize;
  for (const p of segments(buf, what)) end = Math.max(end, p.offset + p.filesz);
  if (end > buf.length) throw new BootosError('OS_TREE_INVALID', `${what}: segment out of bounds`);
  const out = Buffer.from(buf.subarray(0, end));
  out.writeBigUInt64LE(0n, 0x28);
  out.writeUInt16LE(0, 0x3c);
  out.writeUInt16LE(0, 0x3e);
  return out;
}
