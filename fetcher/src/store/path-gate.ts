// The one path gate for unpacking. Every tar entry of every layer passes through `admit()` before a byte of it
// touches the disk; it refuses, with a coded error, anything that could write outside the extraction root or
// plant something dangerous inside it (node-tar's [CHECKPATH], with the checks that its CVE history taught):
//   `..` components, absolute paths, over-long or over-deep paths, unknown entry types,
//   writes through a symlink (a parent component that is a link), symlinks whose target leaves the root,
//   hardlinks to anything but an already extracted regular file inside the root, an entry that replaces a
//   directory with something else, too many entries, too many bytes (decompression bomb).
// Device nodes and FIFOs are skipped (never created) and listed in `skipped`. setuid/setgid bits are stripped
// unless the image config allows them.
//
// The gate keeps its own map of what has been extracted: the staging directory is private and fresh, so the map is
// the truth about it, and no check has to trust what lstat() says about a path an archive could have raced.
import { BootosError, type ErrorCode } from '../core/error.js';
import type { Limits } from '../core/limits.js';

export type GateLimits = Pick<Limits, 'maxPathBytes' | 'maxPathDepth' | 'maxEntries' | 'maxUnpackedBytes' | 'maxSymlinkHops' | 'maxCompressionRatio' | 'compressionRatioFloorBytes'>;

/** The fields of a tar header that the gate reads (tar-stream's Headers has them all). */
export interface EntryHeader {
  name: string;
  type: string | null | undefined;
  mode?: number;
  size?: number;
  linkname?: string | null;
}

export type Admitted =
  | { kind: 'skip' }
  | { kind: 'directory'; path: string; mode: number; mkdirs: string[]; exists: boolean }
  | { kind: 'file'; path: string; mode: number; size: number; mkdirs: string[]; replace: boolean }
  | { kind: 'symlink'; path: string; target: string; mkdirs: string[]; replace: boolean }
  | { kind: 'hardlink'; path: string; target: string; mkdirs: string[]; replace: boolean }
  /** OCI whiteout: remove `path` (and everything under it) left by a lower layer. */
  | { kind: 'whiteout'; path: string }
  /** OCI opaque whiteout: remove what lower layers put in directory `path`, keep the directory. */
  | { kind: 'opaque'; path: string; remove: string[] };

type Kind = 'directory' | 'file' | 'symlink';

interface Node {
  kind: Kind;
  layer: number;
  /** Symlink target as written in the archive. */
  target?: string;
}

/** Linux's NAME_MAX: the longest name of one directory entry. */
const NAME_MAX_BYTES = 255;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function refuse(code: ErrorCode, entry: string, why: string): never {
  throw new BootosError(code, `tar entry ${JSON.stringify(entry.length > 200 ? `${entry.slice(0, 200)}…` : entry)}: ${why}`);
}

export class PathGate {
  private readonly tree = new Map<string, Node>();
  /** Device nodes and FIFOs that were not created, as "path (type)". */
  readonly skipped: string[] = [];
  private entries = 0;
  private bytes = 0;
  /** Compressed bytes of the layers so far, as signed in the manifest (null: unknown, no ratio check). */
  private compressed: number | null = null;
  private layer = 0;

  constructor(
    private readonly limits: GateLimits,
    private readonly allowSetuid = false,
  ) {}

  get unpackedBytes(): number {
    return this.bytes;
  }

  /** Entries admitted so far (all layers). */
  get entryCount(): number {
    return this.entries;
  }

  /** Call before each layer after the first: whiteouts only remove what lower layers made. */
  nextLayer(): void {
    this.layer++;
  }

  /** The signed (compressed) size of the layer about to be read, for the compression-ratio check. */
  addCompressedBytes(bytes: number): void {
    this.compressed = (this.compressed ?? 0) + bytes;
  }

  /** Splits and checks an archive path; returns its components (empty for the root itself). */
  private components(name: string, entry: string, code: { absolute: ErrorCode; traversal: ErrorCode }): string[] {
    if (name.includes('\0')) refuse('UNPACK_PATH_INVALID', entry, 'a path with a NUL byte');
    if (Buffer.byteLength(name) > this.limits.maxPathBytes) refuse('UNPACK_PATH_TOO_LONG', entry, `a path longer than ${this.limits.maxPathBytes} bytes`);
    if (name.startsWith('/')) refuse(code.absolute, entry, 'an absolute path');
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) refuse(code.traversal, entry, 'a ".." component leaves the root');
    if (parts.length > this.limits.maxPathDepth) refuse('UNPACK_PATH_TOO_DEEP', entry, `deeper than ${this.limits.maxPathDepth} components`);
    // NAME_MAX: the filesystem would refuse it with a raw ENAMETOOLONG.
    if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX_BYTES)) refuse('UNPACK_PATH_TOO_LONG', entry, `a path component longer than ${NAME_MAX_BYTES} bytes`);
    return parts;
  }

  /**
   * The directories to create for `parts`' parents. Every existing parent must be a real directory made by this
   * unpack: a symlink there would send the write somewhere else.
   */
  private parents(parts: string[], entry: string, code: ErrorCode = 'UNPACK_THROUGH_SYMLINK'): string[] {
    const mkdirs: string[] = [];
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      const node = this.tree.get(prefix);
      if (node === undefined) mkdirs.push(prefix);
      else if (node.kind === 'symlink') refuse(code, entry, `${prefix} is a symlink; nothing is written through a link`);
      else if (node.kind === 'file') refuse(code === 'UNPACK_THROUGH_SYMLINK' ? 'UNPACK_NOT_A_DIRECTORY' : code, entry, `${prefix} is a file, not a directory`);
    }
    return mkdirs;
  }

  /** Checks one entry and records it; throws a coded BootosError to refuse the whole archive. */
  admit(header: EntryHeader): Admitted {
    const entry = header.name;
    if (++this.entries > this.limits.maxEntries) refuse('UNPACK_TOO_MANY_ENTRIES', entry, `more than ${this.limits.maxEntries} entries`);
    const type = header.type ?? 'unknown';
    if (type === 'pax-global-header') return { kind: 'skip' };
    const special = type === 'character-device' || type === 'block-device' || type === 'fifo';
    if (!special && type !== 'file' && type !== 'contiguous-file' && type !== 'directory' && type !== 'symlink' && type !== 'link') {
      refuse('UNPACK_ENTRY_TYPE', entry, `entry type ${type} is not unpacked`);
    }
    const parts = this.components(entry, entry, { absolute: 'UNPACK_ABSOLUTE_PATH', traversal: 'UNPACK_PATH_TRAVERSAL' });
    if (parts.length === 0) {
      if (type === 'directory') return { kind: 'skip' };
      refuse('UNPACK_PATH_INVALID', entry, 'a non-directory entry for the root itself');
    }
    const path = parts.join('/');
    // Device nodes and FIFOs are never created (the runtime provides /dev): skipped and reported, since images
    // built from a Debian or distribution root often carry a few in dev/.
    if (special) {
      this.skipped.push(`${path} (${type})`);
      return { kind: 'skip' };
    }
    const base = parts[parts.length - 1]!;
    const mkdirs = this.parents(parts, entry);

    // OCI whiteouts (layers of images from other registries): they delete, they never create.
    if (base.startsWith(WHITEOUT)) {
      const dir = parts.slice(0, -1).join('/');
      if (base === OPAQUE) {
        const prefix = dir ? `${dir}/` : '';
        const remove = [...this.tree.keys()].filter((p) => p.startsWith(prefix) && p !== dir && this.tree.get(p)!.layer < this.layer && !p.slice(prefix.length).includes('/'));
        for (const p of remove) this.forget(p);
        return { kind: 'opaque', path: dir, remove };
      }
      const target = (dir ? `${dir}/` : '') + base.slice(WHITEOUT.length);
      if (base === WHITEOUT || base === `${WHITEOUT}..` || base === `${WHITEOUT}.`) {
        refuse('UNPACK_PATH_INVALID', entry, 'a whiteout that names no entry');
      }
      this.forget(target);
      return { kind: 'whiteout', path: target };
    }

    for (const dir of mkdirs) this.tree.set(dir, { kind: 'directory', layer: this.layer });
    const existing = this.tree.get(path);
    const mode = this.mode(header.mode);
    if (type === 'directory') {
      if (existing && existing.kind !== 'directory') refuse('UNPACK_NOT_A_DIRECTORY', entry, `a directory where a ${existing.kind} was already extracted`);
      this.tree.set(path, { kind: 'directory', layer: existing?.layer ?? this.layer });
      return { kind: 'directory', path, mode, mkdirs, exists: existing !== undefined };
    }
    // A link (or file) in place of a directory would redirect everything later written beneath it.
    if (existing?.kind === 'directory') refuse('UNPACK_REPLACES_DIRECTORY', entry, `replaces the directory ${path} with a ${type}`);
    const replace = existing !== undefined;

    if (type === 'symlink') {
      const target = header.linkname ?? '';
      if (target === '' || target.includes('\0')) refuse('UNPACK_PATH_INVALID', entry, 'a symlink with an empty or NUL target');
      if (Buffer.byteLength(target) > this.limits.maxPathBytes) refuse('UNPACK_PATH_TOO_LONG', entry, `a link target longer than ${this.limits.maxPathBytes} bytes`);
      this.tree.set(path, { kind: 'symlink', layer: this.layer, target });
      if (this.escapes(path)) {
        this.tree.delete(path);
        refuse('UNPACK_SYMLINK_ESCAPE', entry, `the symlink to ${JSON.stringify(target)} points outside the root`);
      }
      return { kind: 'symlink', path, target, mkdirs, replace };
    }

    if (type === 'link') {
      const linkname = header.linkname ?? '';
      const targetParts = this.components(linkname, entry, { absolute: 'UNPACK_HARDLINK_ESCAPE', traversal: 'UNPACK_HARDLINK_ESCAPE' });
      if (targetParts.length === 0) refuse('UNPACK_HARDLINK_MISSING', entry, 'a hardlink to the root directory');
      this.parents(targetParts, entry, 'UNPACK_HARDLINK_ESCAPE');
      const target = targetParts.join('/');
      const node = this.tree.get(target);
      // Only to a regular file this archive already extracted: never to something outside, never to a future entry.
      if (node?.kind !== 'file' || target === path) {
        refuse('UNPACK_HARDLINK_MISSING', entry, `a hardlink to ${JSON.stringify(linkname)}, which is not an already extracted regular file`);
      }
      this.tree.set(path, { kind: 'file', layer: this.layer });
      return { kind: 'hardlink', path, target, mkdirs, replace };
    }

    const size = header.size ?? 0;
    this.bytes += size;
    if (this.bytes > this.limits.maxUnpackedBytes) refuse('UNPACK_TOO_LARGE', entry, `the image unpacks to more than ${this.limits.maxUnpackedBytes} bytes`);
    // A decompression bomb: far more content than its compressed bytes can honestly hold. Known from the headers,
    // before a byte of the content is written.
    const { maxCompressionRatio: ratio, compressionRatioFloorBytes: floor } = this.limits;
    if (this.compressed !== null && this.bytes > floor && this.bytes > this.compressed * ratio) {
      refuse('UNPACK_TOO_LARGE', entry, `the image unpacks to more than ${ratio} times its ${this.compressed} compressed bytes (a decompression bomb)`);
    }
    this.tree.set(path, { kind: 'file', layer: this.layer });
    return { kind: 'file', path, mode, size, mkdirs, replace };
  }

  /**
   * Re-checks every symlink against the final tree: a link that was harmless when written can be turned outward by
   * a later entry (a → "b/..", then b → "."). Call after each layer, before the root is renamed into place.
   */
  checkLinks(): void {
    for (const [path, node] of this.tree) {
      if (node.kind === 'symlink' && this.escapes(path)) {
        refuse('UNPACK_SYMLINK_ESCAPE', path, `the symlink to ${JSON.stringify(node.target)} points outside the root`);
      }
    }
  }

  private mode(raw: number | undefined): number {
    const mode = (raw ?? 0o644) & 0o7777;
    return this.allowSetuid ? mode : mode & ~0o6000;
  }

  private forget(path: string): void {
    const prefix = `${path}/`;
    for (const p of [...this.tree.keys()]) if (p === path || p.startsWith(prefix)) this.tree.delete(p);
  }

  /**
   * Resolves the symlink at `path` the way the kernel would inside the root (following links the tree knows,
   * absolute targets from the root as the container sees them) and says whether a ".." ever climbs above the root.
   */
  private escapes(path: string): boolean {
    const node = this.tree.get(path)!;
    const stack = path.split('/').slice(0, -1);
    const queue = (node.target!.startsWith('/') ? (stack.length = 0, node.target!) : node.target!).split('/');
    let hops = 0;
    while (queue.length) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (stack.length === 0) return true;
        stack.pop();
        continue;
      }
      stack.push(c);
      const at = this.tree.get(stack.join('/'));
      if (at?.kind === 'symlink') {
        // A loop or an absurd chain is treated as escaping: nothing good needs 40 hops.
        if (++hops > this.limits.maxSymlinkHops) return true;
        stack.pop();
        if (at.target!.startsWith('/')) stack.length = 0;
        queue.unshift(...at.target!.split('/'));
      }
    }
    return false;
  }
}
