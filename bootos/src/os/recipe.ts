// The OS recipe (bootos/os/bootos.yaml): a short declarative file with a strict schema.
// Unknown fields are errors naming the field (the guard's Reader); semantic errors name the field too.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseYamlText } from '../../../fetcher/src/core/yaml-file.js';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { Reader } from '../../../fetcher/src/core/guard.js';

import { ARCH_TABLE, ARCHES, type Arch } from '../../../fetcher/src/core/arch.js';

export { ARCHES, type Arch };

/** `node.icu`: the ICU data in the Node binary, all of it or trimmed to English (bootos/src/os/icu.ts). */
export const NODE_ICU = ['full', 'small'] as const;
export type NodeIcu = (typeof NODE_ICU)[number];

export interface ArchRecipe {
  /** Debian architecture name (amd64, arm64). */
  debian: string;
  /** npm package with the Node binary for this arch. */
  node: string;
  /** Serial console device for the kernel command line. */
  console: string;
  /** UEFI architecture suffix (x64 → BOOTX64.EFI, aa64 → BOOTAA64.EFI). */
  efi: string;
  /** Extra kernel modules for this arch. */
  modules: string[];
}

export interface PackageRecipe {
  name: string;
  files: string[];
}

export interface FileRecipe {
  path: string;
  source: string;
  mode: number;
}

export interface Recipe {
  kernel: { package: string; modules: string[]; cmdline: string };
  arches: Record<Arch, ArchRecipe>;
  node: { version: string; strip: boolean; icu: NodeIcu };
  packages: PackageRecipe[];
  efi: { package: string; file: string };
  agent: string;
  files: FileRecipe[];
  /** Folder the `files[].source` paths are relative to. */
  filesDir: string;
}

/** The checkout this code runs from (works from the sources and from the esbuild bundle in dist/). */
export const REPO_DIR = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bootos', 'os', 'bootos.yaml'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
})();

export const RECIPE_DIR = join(REPO_DIR, 'bootos', 'os') + '/';

const MODULE_NAME = /^[a-z0-9_-]+$/;
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.{}-]*$/;
const IMAGE_PATH = /^\/[A-Za-z0-9._+@/-]+$/;

export function parseRecipe(text: string, where = 'bootos.yaml', filesDir = `${RECIPE_DIR}files`): Recipe {
  const doc = parseYamlText(text, where);
  const r = new Reader('SCHEMA_INVALID', where);
  const top = r.object(doc, '', ['kernel', 'arches', 'node', 'packages', 'efi', 'agent', 'files']);
  const modules = (v: unknown, p: string) => r.array(v, p).map((m, i) => r.string(m, `${p}[${i}]`, MODULE_NAME, 'expected a kernel module name'));

  const kernel = r.required(top, 'kernel', '', (v, p) => {
    const k = r.object(v, p, ['package', 'modules', 'cmdline']);
    return {
      package: r.required(k, 'package', p, (x, q) => r.string(x, q, PACKAGE_NAME, 'expected a Debian package name')),
      modules: r.required(k, 'modules', p, modules),
      cmdline: r.optional(k, 'cmdline', p, (x, q) => r.string(x, q)) ?? '',
    };
  });

  const arches = r.required(top, 'arches', '', (v, p) => {
    const a = r.object(v, p, ARCHES);
    const out = {} as Record<Arch, ArchRecipe>;
    for (const arch of ARCHES) {
      out[arch] = r.required(a, arch, p, (x, q) => {
        const o = r.object(x, q, ['debian', 'node', 'console', 'efi', 'modules']);
        return {
          debian: r.required(o, 'debian', q, (y, s) => r.oneOf(y, s, [ARCH_TABLE[arch].debian] as const)),
          node: r.required(o, 'node', q, (y, s) => r.string(y, s, /^node-linux-[a-z0-9]+$/, 'expected node-linux-<arch>')),
          console: r.required(o, 'console', q, (y, s) => r.string(y, s, /^tty[A-Za-z0-9]+$/)),
          efi: r.required(o, 'efi', q, (y, s) => r.string(y, s, /^[a-z0-9]+$/)),
          modules: r.optional(o, 'modules', q, modules) ?? [],
        };
      });
    }
    return out;
  });

  const node = r.required(top, 'node', '', (v, p) => {
    const n = r.object(v, p, ['version', 'strip', 'icu']);
    return {
      version: r.required(n, 'version', p, (x, q) => r.string(x, q, /^\d+$/, 'expected a major version such as "22"')),
      strip: r.optional(n, 'strip', p, (x, q) => r.boolean(x, q)) ?? false,
      icu: r.optional(n, 'icu', p, (x, q) => r.oneOf(x, q, NODE_ICU)) ?? 'full',
    };
  });

  const packages = r.required(top, 'packages', '', (v, p) =>
    r.array(v, p).map((x, i) => {
      const q = `${p}[${i}]`;
      const o = r.object(x, q, ['name', 'files']);
      return {
        name: r.required(o, 'name', q, (y, s) => r.string(y, s, PACKAGE_NAME, 'expected a Debian package name')),
        files: r.required(o, 'files', q, (y, s) => r.stringArray(y, s)),
      };
    }),
  );
  const seen = new Set<string>();
  packages.forEach((pkg, i) => {
    if (seen.has(pkg.name)) r.fail(`packages[${i}].name`, `duplicate package: ${pkg.name}`);
    seen.add(pkg.name);
  });

  const efi = r.required(top, 'efi', '', (v, p) => {
    const o = r.object(v, p, ['package', 'file']);
    return {
      package: r.required(o, 'package', p, (x, q) => r.string(x, q, PACKAGE_NAME)),
      file: r.required(o, 'file', p, (x, q) => r.string(x, q, /^[A-Za-z0-9._{}/-]+$/)),
    };
  });

  const agent = r.required(top, 'agent', '', (v, p) => r.string(v, p, /^\S.*$/, 'expected a command line'));

  const files = r.required(top, 'files', '', (v, p) =>
    r.array(v, p).map((x, i) => {
      const q = `${p}[${i}]`;
      const o = r.object(x, q, ['path', 'source', 'mode']);
      return {
        path: r.required(o, 'path', q, (y, s) => r.string(y, s, IMAGE_PATH, 'expected an absolute path in the image')),
        source: r.required(o, 'source', q, (y, s) => r.string(y, s, /^[A-Za-z0-9._-][A-Za-z0-9._/-]*$/, 'expected a path relative to bootos/os/files')),
        mode: r.required(o, 'mode', q, (y, s) => parseInt(r.string(y, s, /^0[0-7]{3}$/, 'expected an octal mode such as "0644"'), 8)),
      };
    }),
  );
  const paths = new Set<string>();
  files.forEach((f, i) => {
    if (f.path.split('/').includes('..')) r.fail(`files[${i}].path`, 'must not contain ..');
    if (f.source.split('/').includes('..')) r.fail(`files[${i}].source`, 'must not contain ..');
    if (paths.has(f.path)) r.fail(`files[${i}].path`, `duplicate path: ${f.path}`);
    paths.add(f.path);
  });

  return { kernel, arches, node, packages, efi, agent, files, filesDir };
}

export async function loadRecipe(path = `${RECIPE_DIR}bootos.yaml`): Promise<Recipe> {
  return parseRecipe(await readFile(path, 'utf8'), path);
}

/** Expands {debian} and {efi} in a recipe string for one arch. */
export function forArch(template: string, arch: ArchRecipe): string {
  return template.replaceAll('{debian}', arch.debian).replaceAll('{efi}', arch.efi);
}

/** Every Debian package name the recipe needs for one arch (the kernel as its metapackage). */
export function debianPackages(recipe: Recipe, arch: Arch): string[] {
  const a = recipe.arches[arch];
  return [...recipe.packages.map((p) => p.name), forArch(recipe.efi.package, a)];
}

export function kernelModules(recipe: Recipe, arch: Arch): string[] {
  return [...new Set([...recipe.kernel.modules, ...recipe.arches[arch].modules].map((m) => m.replaceAll('-', '_')))].sort();
}
