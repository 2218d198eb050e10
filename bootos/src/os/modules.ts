// Kernel modules for the image: only the wanted ones plus their dependency closure (from each module's
// .modinfo depends=), in load order, with a matching modules.dep and modules.alias for busybox modprobe (which /init
// feeds the modalias of every present device, and the kernel asks for fs-ext4, rtnl-link-veth, …). Built-ins are
// skipped.
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { modinfo } from './elf.js';

export interface ModuleSet {
  kernelVersion: string;
  /** Paths relative to lib/modules/<kver>/, dependencies before dependants. */
  loadOrder: string[];
  /** modules.dep for the chosen modules only. */
  modulesDep: string;
  /** modules.alias (`alias <pattern> <module>` from each module's .modinfo), sorted. */
  modulesAlias: string;
  /** Wanted names that are built into the kernel. */
  builtin: string[];
}

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.name.endsWith('.ko')) out.push(p);
  }
  return out;
}

const nameOf = (file: string) => file.slice(file.lastIndexOf('/') + 1).replace(/\.ko$/, '').replaceAll('-', '_');

/** `root` is an unpacked linux-image package. */
export async function selectModules(root: string, wanted: string[]): Promise<ModuleSet> {
  const versions = await readdir(join(root, 'lib/modules'));
  if (versions.length !== 1) throw new BootosError('OS_TREE_INVALID', `kernel package has ${versions.length} module trees`);
  const kernelVersion = versions[0]!;
  const base = join(root, 'lib/modules', kernelVersion);
  const files = new Map<string, string>();
  for (const f of await walk(join(base, 'kernel'))) files.set(nameOf(f), relative(base, f));
  const builtins = new Set(
    (await readFile(join(base, 'modules.builtin'), 'utf8')).split('\n').filter(Boolean).map(nameOf),
  );

  const deps = new Map<string, string[]>();
  const aliases: string[] = [];
  const builtin: string[] = [];
  const visit = async (name: string, wantedBy: string | null): Promise<void> => {
    if (deps.has(name)) return;
    const rel = files.get(name);
    if (!rel) {
      if (builtins.has(name)) {
        if (!wantedBy) builtin.push(name);
        return;
      }
      throw new BootosError('OS_MODULE_NOT_FOUND', `kernel module ${name}${wantedBy ? ` (needed by ${wantedBy})` : ''} is neither a module nor built into ${kernelVersion}`);
    }
    const info = modinfo(await readFile(join(base, rel)), rel);
    const list = info.filter(([k]) => k === 'depends').flatMap(([, v]) => v.split(',')).filter(Boolean).map((d) => d.replaceAll('-', '_'));
    deps.set(name, list);
    for (const [k, v] of info) if (k === 'alias') aliases.push(`alias ${v} ${name}\n`);
    for (const d of list) await visit(d, name);
  };
  for (const name of [...wanted].sort()) await visit(name, null);

  // Depth-first post-order from sorted roots: dependencies first, deterministic.
  const order: string[] = [];
  const done = new Set<string>();
  const place = (name: string) => {
    if (done.has(name)) return;
    done.add(name);
    for (const d of [...(deps.get(name) ?? [])].sort()) place(d);
    order.push(name);
  };
  for (const name of [...deps.keys()].sort()) place(name);

  // modules.dep lists every (transitive) dependency, the one to load last first (depmod's convention).
  const closure = (name: string): string[] => {
    const seen: string[] = [];
    const go = (n: string) => {
      for (const d of deps.get(n) ?? []) {
        if (!seen.includes(d)) {
          seen.push(d);
          go(d);
        }
      }
    };
    go(name);
    return order.filter((n) => seen.includes(n)).reverse();
  };
  const modulesDep = order.map((n) => `${files.get(n)}:${closure(n).map((d) => ` ${files.get(d)}`).join('')}\n`).join('');
  const modulesAlias = [...new Set(aliases)].sort().join('');
  return { kernelVersion, loadOrder: order.map((n) => files.get(n)!), modulesDep, modulesAlias, builtin: builtin.sort() };
}
