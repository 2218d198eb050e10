// What the publisher knows of one platform's merged root: every layer's entries in order, whiteouts applied, and
// the ELF header of every regular file. With it the publisher refuses native code in an `architecture: any` image
// or for another architecture, checks that the entrypoint exists and is executable, resolves a source image's user
// name through its /etc/passwd, and lists the device nodes that devices will skip.
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { ARCHES, ARCH_TABLE } from '../core/arch.js';
import { BootosError } from '../core/error.js';
import { compressionOf } from '../store/unpack.js';

export interface TreeEntry {
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  target?: string;
  /** e_machine of an ELF executable or shared object (ET_EXEC, ET_DYN); relocatable objects are not programs. */
  elfMachine?: number;
}

/** Small files read whole, for user and group names. */
const KEEP_CONTENT = new Set(['etc/passwd', 'etc/group']);
const MAX_KEPT_BYTES = 1 << 20;
const MAX_LINK_HOPS = 40;

export class ImageTree {
  readonly entries = new Map<string, TreeEntry>();
  /** Device nodes and FIFOs in the layers: devices skip them on unpack (never created). */
  readonly skipped: string[] = [];
  private readonly kept = new Map<string, Buffer>();

  /**
   * Reads one layer blob (a file) of the given media type and applies it on top of the layers before; returns the
   * layer's diff_id (sha256 of its uncompressed tar).
   */
  async addLayer(file: string, mediaType: string): Promise<string> {
    const compression = compressionOf(mediaType);
    const extract = tarExtract();
    const streams: NodeJS.ReadWriteStream[] = [];
    if (compression === 'gzip') streams.push(zlib.createGunzip());
    if (compression === 'zstd') streams.push((zlib as unknown as { createZstdDecompress(): NodeJS.ReadWriteStream }).createZstdDecompress());
    const tarHash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        tarHash.update(chunk);
        done(null, chunk);
      },
    });
    const flowing = pipeline([createReadStream(file), ...streams, hashing, extract] as unknown as [Readable, NodeJS.WritableStream]);
    flowing.catch(() => {});
    const opaque = new Set<string>();
    const added = new Set<string>();
    try {
      for await (const entry of extract) {
        const { header } = entry;
        const path = normalize(header.name);
        const base = posix.basename(path);
        const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
        let head: Buffer | null = null;
        if (header.type === 'file' || header.type === 'contiguous-file') {
          const chunks: Buffer[] = [];
          let size = 0;
          const keep = KEEP_CONTENT.has(path) && (header.size ?? 0) <= MAX_KEPT_BYTES;
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            if (keep || size < 20) chunks.push(chunk);
            size += chunk.length;
          }
          head = Buffer.concat(chunks);
          if (keep) this.kept.set(path, head);
        } else {
          for await (const _ of entry);
        }
        if (!path) continue;
        if (base === '.wh..wh..opq') {
          opaque.add(dir);
          continue;
        }
        if (base.startsWith('.wh.')) {
          this.remove(posix.join(dir, base.slice(4)));
          continue;
        }
        added.add(path);
        const mode = (header.mode ?? 0o644) & 0o7777;
        switch (header.type) {
          case 'directory':
            if (this.entries.get(path)?.type !== 'directory') this.remove(path);
            this.entries.set(path, { type: 'directory', mode });
            break;
          case 'symlink':
            this.remove(path);
            this.entries.set(path, { type: 'symlink', mode: 0o777, target: header.linkname ?? '' });
            break;
          case 'link': {
            const target = this.entries.get(normalize(header.linkname ?? ''));
            this.remove(path);
            if (target) this.entries.set(path, { ...target });
            break;
          }
          case 'file':
          case 'contiguous-file':
            this.remove(path);
            this.entries.set(path, { type: 'file', mode, ...elfOf(head!) });
            break;
          case 'character-device':
          case 'block-device':
          case 'fifo':
            this.skipped.push(`${path} (${header.type})`);
            break;
          default:
            break;
        }
      }
      await flowing;
    } catch (err) {
      throw new BootosError('IMAGE_INVALID', `${file}: the layer does not read as a tar archive: ${(err as Error).message}`, { cause: err });
    }
    // An opaque directory hides what lower layers had in it: keep only what this layer added there.
    for (const dir of opaque) {
      const prefix = dir ? `${dir}/` : '';
      for (const path of [...this.entries.keys()]) if (path.startsWith(prefix) && path !== dir && !added.has(path)) this.entries.delete(path);
    }
    return `sha256:${tarHash.digest('hex')}`;
  }

  private remove(path: string): void {
    this.entries.delete(path);
    const prefix = `${path}/`;
    for (const p of [...this.entries.keys()]) if (p.startsWith(prefix)) this.entries.delete(p);
  }

  /** Native programs and libraries whose architecture is not `oci` (every one when `oci` is null: an `any` image). */
  foreignNative(oci: string | null): { path: string; arch: string }[] {
    const wanted = ARCHES.find((a) => ARCH_TABLE[a].oci === oci);
    const out: { path: string; arch: string }[] = [];
    for (const [path, e] of this.entries) {
      if (e.elfMachine === undefined) continue;
      if (wanted && e.elfMachine === ARCH_TABLE[wanted].elf) continue;
      out.push({ path, arch: machineName(e.elfMachine) });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /** The entry at `path` after following symlinks inside the root; null when missing or a loop. */
  resolve(path: string): { path: string; entry: TreeEntry } | null {
    const done: string[] = [];
    const todo = normalize(path).split('/').filter(Boolean);
    let hops = 0;
    while (todo.length) {
      const part = todo.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      done.push(part);
      const entry = this.entries.get(done.join('/'));
      if (!entry) return null;
      if (entry.type === 'symlink') {
        if (++hops > MAX_LINK_HOPS) return null;
        done.pop();
        if (entry.target!.startsWith('/')) done.length = 0;
        todo.unshift(...entry.target!.split('/').filter(Boolean));
      }
    }
    const at = done.join('/');
    const entry = at ? this.entries.get(at) : { type: 'directory' as const, mode: 0o755 };
    return entry ? { path: `/${at}`, entry } : null;
  }

  /** Where the kernel finds argv[0]: itself when it has a slash, else the first hit in PATH. */
  findProgram(argv0: string, pathVar: string): { path: string; entry: TreeEntry } | null {
    const candidates = argv0.includes('/') ? [argv0] : pathVar.split(':').filter(Boolean).map((d) => posix.join(d, argv0));
    for (const candidate of candidates) {
      const hit = this.resolve(candidate);
      if (hit && hit.entry.type === 'file') return hit;
    }
    return null;
  }

  /** uid:gid of a user name (or a numeric uid) from the image's /etc/passwd; a group name from /etc/group. */
  lookupUser(spec: string): { uid: number; gid: number } | null {
    const [user, group] = spec.split(':') as [string, string | undefined];
    const passwd = this.kept.get('etc/passwd')?.toString('utf8') ?? '';
    const row = passwd.split('\n').map((l) => l.split(':')).find((f) => f[0] === user || f[2] === user);
    const uid = /^\d+$/.test(user) ? Number(user) : row ? Number(row[2]) : null;
    if (uid === null) return null;
    let gid = row ? Number(row[3]) : uid;
    if (group !== undefined) {
      if (/^\d+$/.test(group)) gid = Number(group);
      else {
        const g = (this.kept.get('etc/group')?.toString('utf8') ?? '').split('\n').map((l) => l.split(':')).find((f) => f[0] === group);
        if (!g) return null;
        gid = Number(g[2]);
      }
    }
    return { uid, gid };
  }
}

function normalize(name: string): string {
  return name.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function elfOf(head: Buffer): { elfMachine?: number } {
  if (head.length < 20 || !head.subarray(0, 4).equals(ELF_MAGIC)) return {};
  const little = head[5] === 1;
  const type = little ? head.readUInt16LE(16) : head.readUInt16BE(16);
  const machine = little ? head.readUInt16LE(18) : head.readUInt16BE(18);
  // ET_EXEC (2) and ET_DYN (3) run or load; ET_REL objects (eBPF programs, .o files) do not.
  return type === 2 || type === 3 ? { elfMachine: machine } : {};
}

function machineName(machine: number): string {
  const arch = ARCHES.find((a) => ARCH_TABLE[a].elf === machine);
  if (arch) return arch;
  return ({ 3: 'i386', 40: 'arm', 8: 'mips', 20: 'ppc', 21: 'ppc64', 22: 's390', 243: 'riscv' } as Record<number, string>)[machine] ?? `e_machine ${machine}`;
}
