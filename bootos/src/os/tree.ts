// The image's root tree before it is archived: paths (relative, no leading slash) to entries.
// Parent directories are created on demand; symlinks are checked to resolve inside the tree.
import { BootosError } from '../../../fetcher/src/core/error.js';

export type Entry =
  | { type: 'dir'; mode: number }
  | { type: 'file'; mode: number; source: string | Buffer }
  | { type: 'symlink'; target: string }
  | { type: 'char'; mode: number; major: number; minor: number };

function clean(path: string): string {
  const parts = path.split('/').filter((p) => p && p !== '.');
  if (parts.includes('..')) throw new BootosError('OS_TREE_INVALID', `path leaves the image root: ${path}`);
  return parts.join('/');
}

export class Tree {
  private readonly entries = new Map<string, Entry>([['', { type: 'dir', mode: 0o755 }]]);

  get(path: string): Entry | undefined {
    return this.entries.get(clean(path));
  }

  has(path: string): boolean {
    return this.entries.has(clean(path));
  }

  get size(): number {
    return this.entries.size;
  }

  dir(path: string, mode = 0o755): void {
    const p = clean(path);
    const existing = this.entries.get(p);
    if (existing) {
      if (existing.type !== 'dir') throw new BootosError('OS_TREE_INVALID', `/${p} is both a directory and a ${existing.type}`);
      return;
    }
    if (p.includes('/')) this.dir(p.slice(0, p.lastIndexOf('/')));
    this.entries.set(p, { type: 'dir', mode });
  }

  private put(path: string, entry: Entry, replace: boolean): void {
    const p = clean(path);
    if (!p) throw new BootosError('OS_TREE_INVALID', 'cannot replace the root directory');
    const existing = this.entries.get(p);
    if (existing && !replace) throw new BootosError('OS_TREE_INVALID', `/${p} is added twice`);
    if (existing?.type === 'dir') throw new BootosError('OS_TREE_INVALID', `/${p} is a directory`);
    if (p.includes('/')) this.dir(p.slice(0, p.lastIndexOf('/')));
    this.entries.set(p, entry);
  }

  file(path: string, source: string | Buffer, mode = 0o644, replace = false): void {
    this.put(path, { type: 'file', mode, source }, replace);
  }

  symlink(path: string, target: string, replace = false): void {
    this.put(path, { type: 'symlink', target }, replace);
  }

  char(path: string, major: number, minor: number, mode = 0o600): void {
    this.put(path, { type: 'char', mode, major, minor }, false);
  }

  /**
   * Moves the entries below `dir` (not `dir` itself) into a new tree, rooted at `dir`: `usr/bin/node` becomes
   * `bin/node`. Symlinks keep their targets as they are (check them with checkLinks before splitting).
   */
  split(dir: string): Tree {
    const d = clean(dir);
    const out = new Tree();
    for (const p of this.sortedPaths()) {
      if (!p.startsWith(`${d}/`)) continue;
      const entry = this.entries.get(p)!;
      out.entries.set(p.slice(d.length + 1), entry);
      this.entries.delete(p);
    }
    return out;
  }

  /** Parents before children; byte order of the path (deterministic, locale-free). */
  sortedPaths(): string[] {
    return [...this.entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Follows symlinks from `path`; returns the final entry's path, or null when it dangles. */
  resolve(path: string, depth = 0): string | null {
    if (depth > 16) return null;
    const parts = clean(path).split('/').filter(Boolean);
    let cur = '';
    for (let i = 0; i < parts.length; i++) {
      const next = cur ? `${cur}/${parts[i]}` : parts[i]!;
      const e = this.entries.get(next);
      if (!e) return null;
      if (e.type === 'symlink') {
        const base = e.target.startsWith('/') ? e.target : `${cur}/${e.target}`;
        const rest = parts.slice(i + 1).join('/');
        const joined = normalize(rest ? `${base}/${rest}` : base);
        if (joined === null) return null;
        return this.resolve(joined, depth + 1);
      }
      cur = next;
    }
    return cur;
  }

  /** Every symlink must resolve to an entry inside the tree. */
  checkLinks(): void {
    for (const [p, e] of this.entries) {
      if (e.type === 'symlink' && this.resolve(p) === null) {
        throw new BootosError('OS_TREE_INVALID', `/${p} -> ${e.target} does not resolve inside the image`);
      }
    }
  }
}

function normalize(path: string): string | null {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') {
      out.pop(); // /.. is /

    } else out.push(part);
  }
  return out.join('/');
}
