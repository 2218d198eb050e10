// Just enough ELF64 (little-endian: x86_64 and aarch64) for the image: read a kernel module's .modinfo, and drop
// what no loader reads (section headers, symbols, debug info) from an executable without changing a loaded byte.
import { BootosError } from '../../../fetcher/src/error.js';

interface Section {
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

function sections(buf: Buffer, what: string): Section[] {
  const h = header(buf, what);
  const raw = [];
  for (let i = 0; i < h.shnum; i++) {
    const at = h.shoff + i * h.shentsize;
    if (at + 64 > buf.length) throw new BootosError('OS_TREE_INVALID', `${what}: section header out of bounds`);
    raw.push({ nameOff: buf.readUInt32LE(at), offset: Number(buf.readBigUInt64LE(at + 0x18)), size: Number(buf.readBigUInt64LE(at + 0x20)) });
  }
  const strtab = raw[h.shstrndx];
  if (!strtab) throw new BootosError('OS_TREE_INVALID', `${what}: no section name table`);
  return raw.map((s) => {
    const start = strtab.offset + s.nameOff;
    const end = buf.indexOf(0, start);
    return { name: buf.toString('latin1', start, end), offset: s.offset, size: s.size };
  });
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
 * The bytes of an executable that the kernel and the dynamic loader read: everything up to the end of the last
 * segment, with the section header table dropped (e_shoff = e_shnum = e_shstrndx = 0). Like `sstrip`.
 */
export function stripExecutable(buf: Buffer, what: string): Buffer {
  const h = header(buf, what);
  let end = h.phoff + h.phnum * h.phentsize;
  for (let i = 0; i < h.phnum; i++) {
    const at = h.phoff + i * h.phentsize;
    end = Math.max(end, Number(buf.readBigUInt64LE(at + 0x08)) + Number(buf.readBigUInt64LE(at + 0x20)));
  }
  if (end > buf.length) throw new BootosError('OS_TREE_INVALID', `${what}: segment out of bounds`);
  const out = Buffer.from(buf.subarray(0, end));
  out.writeBigUInt64LE(0n, 0x28);
  out.writeUInt16LE(0, 0x3c);
  out.writeUInt16LE(0, 0x3e);
  return out;
}
