// The import graph of the project's source folders, read with TypeScript's own pre-processor (static, type-only
// and dynamic imports alike; comments and strings are not mistaken for imports). Paths are repo-relative.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';
import { REPO } from './registry.js';

export const SOURCE_FOLDERS = ['bootos/src', 'fetcher/src', 'qemu/src', 'kiosk/src'];

export type Graph = Map<string, string[]>;

function tsFiles(dir: string): string[] {
  return readdirSync(join(REPO, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(REPO, join(e.parentPath, e.name)))
    .sort();
}

/** Every source file → the source files it imports (relative imports of code only; packages, node: and CSS are left out). */
export function importGraph(folders = SOURCE_FOLDERS): Graph {
  const graph: Graph = new Map();
  for (const file of folders.flatMap(tsFiles)) {
    const info = ts.preProcessFile(readFileSync(join(REPO, file), 'utf8'), true, true);
    const targets = info.importedFiles
      .map((i) => i.fileName)
      .filter((name) => (name.startsWith('./') || name.startsWith('../')) && /\.(js|ts)$/.test(name))
      .map((name) => normalize(join(dirname(file), name)).replace(/\.js$/, '.ts'));
    graph.set(file, [...new Set(targets)].sort());
  }
  return graph;
}

/** The import cycles (strongly connected components of more than one file, or a file importing itself). */
export function cycles(graph: Graph): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** Every file reachable from `entry`, each with the chain of imports that reaches it. */
export function reachable(graph: Graph, entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (seen.has(w)) continue;
      seen.set(w, [...seen.get(v)!, w]);
      queue.push(w);
    }
  }
  return seen;
}
