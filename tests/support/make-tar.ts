// Builds tar archives byte by byte (like node-tar's test/fixtures/make-tar): every header field is written by hand,
// so a test can make exactly the hostile entry it means, including ones no well-behaved tar tool would write.
import { gzipSync } from 'node:zlib';

export interface TarEntry {
  path: string;
  /** file, dir, symlink, link (hard), char, block, fifo, or a raw typeflag character. */
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo' | string;
  mode?: number;
  body?: Buffer | string;
  linkname?: string;
  /** Size written in the header (default: the body's length). */
  size?: number;
  mtime?: number;
}

const TYPEFLAG: Record<string, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(fields: { name: string; mode: number; size: number; mtime: number; typeflag: string; linkname: string }): Buffer {
  const block = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number) => {
    const bytes = Buffer.from(text);
    if (bytes.length > length) throw new Error(`make-tar: ${text.slice(0, 40)}… does not fit in ${length} bytes`);
    bytes.copy(block, offset);
  };
  put(fields.name, 0, 100);
  put(octal(fields.mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(fields.size, 12), 124, 12);
  put(octal(fields.mtime, 12), 136, 12);
  block.fill(' ', 148, 156); // checksum field counts as spaces while summing
  put(fields.typeflag, 156, 1);
  put(fields.linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

/** A pax extended header ('x') carrying long path / linkpath values. */
function pax(records: Record<string, string>): Buffer {
  const body = Buffer.concat(
    Object.entries(records).map(([key, value]) => {
      const text = ` ${key}=${value}\n`;
      let length = Buffer.byteLength(text);
      length += String(length).length;
      if (String(length).length !== String(length - String(length).length).length) length++;
      return Buffer.from(`${length}${text}`);
    }),
  );
  return Buffer.concat([header({ name: 'PaxHeader', mode: 0o644, size: body.length, mtime: 0, typeflag: 'x', linkname: '' }), pad(body)]);
}

/** The tar bytes of `entries`; a Buffer in the list is copied as is (for hand-made blocks). */
export function makeTar(entries: (TarEntry | Buffer)[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (Buffer.isBuffer(entry)) {
      parts.push(entry);
      continue;
    }
    const type = entry.type ?? 'file';
    const body = entry.body === undefined ? Buffer.alloc(0) : Buffer.from(entry.body);
    const long: Record<string, string> = {};
    let name = entry.path;
    let linkname = entry.linkname ?? '';
    if (Buffer.byteLength(name) > 100) {
      long.path = name;
      name = name.slice(0, 99);
    }
    if (Buffer.byteLength(linkname) > 100) {
      long.linkpath = linkname;
      linkname = linkname.slice(0, 99);
    }
    if (Object.keys(long).length) parts.push(pax(long));
    const mode = entry.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
    parts.push(header({ name, mode, size: entry.size ?? body.length, mtime: entry.mtime ?? 0, typeflag: TYPEFLAG[type] ?? type, linkname }));
    if (body.length) parts.push(pad(body));
  }
  if (options.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function makeTarGz(entries: (TarEntry | Buffer)[]): Buffer {
  return gzipSync(makeTar(entries));
}
