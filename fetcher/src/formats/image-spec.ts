// images/<name>/image.yaml: the short, strict recipe of a process image. Unknown fields are errors naming the field.
import { join } from 'node:path';
import { readYamlFile } from '../core/yaml-file.js';
import { IMAGE_NAME, Reader } from '../core/guard.js';
import { OCI_ARCHES, ociArch, type OciArch } from '../core/arch.js';
import { isOciUrl } from './registry-url.js';
import { ABSOLUTE_PATH, DEFAULT_DATA_BYTES, MIN_DATA_BYTES, STOP_SIGNALS, readImageConfig, type ImageConfig } from './image-config.js';
import { DEB_NAME } from './deb-pin.js';

export interface FileMapping {
  /** Folder or file relative to the image folder. */
  from: string;
  /** Absolute path inside the image. */
  to: string;
}

/** What of a package's `usr/share` an image keeps; everything else there is dropped unless kept. */
export const DEBIAN_KEEP = ['docs', 'man', 'info', 'locales', 'lintian'] as const;
export type DebianKeep = (typeof DEBIAN_KEEP)[number];

export interface DebianSpec {
  /** Debian package names, as asked (their dependencies come from the lock, image.lock.json). */
  packages: string[];
  keep: DebianKeep[];
}

/** Where an image's base layers come from (`from:`), in skopeo's transport syntax. */
export type ImageSource =
  | { kind: 'oci'; path: string; ref: string | null }
  | { kind: 'oci-archive'; path: string; ref: string | null }
  | { kind: 'docker-archive'; path: string; ref: string | null }
  | { kind: 'registry'; location: string; ref: string };

/** The process fields image.yaml set itself: with `from:`, the others come from the source image's config. */
export type ExplicitFields = Partial<Pick<ImageConfig, 'entrypoint' | 'env' | 'workdir' | 'user' | 'ports' | 'stopSignal'>>;

export interface ParsedSpec {
  /** With `from:`, a template: the publisher fills in the source's defaults and checks it again (compose.ts). */
  config: ImageConfig;
  files: FileMapping[];
  /** 'any': one layer set for every platform (no native code); else the platforms to publish. */
  architecture: 'any' | OciArch[] | null;
  from: ImageSource | null;
  explicit: ExplicitFields;
  /** Debian packages unpacked under the image's own files, or null. Not part of the signed config. */
  debian: DebianSpec | null;
}

export interface ImageSpec extends ParsedSpec {
  dir: string;
}

const FIELDS = [
  'from', 'architecture', 'name', 'version', 'description', 'runtime', 'entrypoint', 'env', 'workdir', 'user', 'ports', 'health', 'idle',
  'resources', 'network', 'data', 'handover', 'allowSetuid', 'stopSignal', 'init', 'files', 'debian',
] as const;

const SIZE = /^(\d+)(Ki|Mi|Gi)?$/;
const UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

export async function loadImageSpec(dir: string): Promise<ImageSpec> {
  const file = join(dir, 'image.yaml');
  return { dir, ...parseImageSpec(await readYamlFile(file, 'an image folder holds an image.yaml'), file) };
}

export function parseImageSpec(doc: unknown, where: string): ParsedSpec {
  const r = new Reader('SCHEMA_INVALID', where);
  const o = r.object(doc, '', FIELDS);
  const str = (v: unknown, p: string) => r.string(v, p);

  const ports = (r.optional(o, 'ports', '', (v, p) => r.array(v, p)) ?? []).map((item, i) => {
    const path = `ports[${i}]`;
    const p = r.object(item, path, ['name', 'port', 'public']);
    const port = r.required(p, 'port', path, (v, f) => r.integer(v, f, 1, 65535));
    return {
      name: r.optional(p, 'name', path, (v, f) => r.string(v, f, /^[a-z][a-z0-9-]*$/)) ?? (i === 0 ? 'http' : `port${i}`),
      port,
      public: r.optional(p, 'public', path, (v, f) => r.integer(v, f, 1, 65535)) ?? port,
    };
  });
  const names = new Set<string>();
  for (const p of ports) {
    if (names.has(p.name)) r.fail('ports', `duplicate port name: ${p.name}`);
    names.add(p.name);
  }

  const healthDoc = r.optional(o, 'health', '', (v, p) => r.object(v, p, ['http', 'port', 'intervalMs', 'timeoutMs']));
  const idleDoc = r.optional(o, 'idle', '', (v, p) => r.object(v, p, ['after', 'action'])) ?? {};
  const resDoc = r.optional(o, 'resources', '', (v, p) => r.object(v, p, ['memory', 'pids', 'cpuWeight', 'data'])) ?? {};
  const handDoc = r.optional(o, 'handover', '', (v, p) => r.object(v, p, ['mode', 'timeout'])) ?? {};
  const env = r.optional(o, 'env', '', (v, p) => r.object(v, p)) ?? {};
  const userText = r.optional(o, 'user', '', (v, p) => r.string(v, p, /^\d+:\d+$/, 'expected UID:GID, e.g. 1000:1000'));
  const [uid, gid] = (userText ?? '1000:1000').split(':').map(Number) as [number, number];
  if (uid === 0) r.fail('user', 'apps never run as root (uid 0)');
  const from = r.optional(o, 'from', '', (v, p) => parseImageSource(r, r.string(v, p), p));
  const architecture = r.optional(o, 'architecture', '', (v, p) => {
    if (v === 'any') return 'any' as const;
    const list = Array.isArray(v) ? r.stringArray(v, p) : [r.string(v, p)];
    if (list.length === 0) r.fail(p, 'names no platform');
    const arches = list.map((a, i) => ociArch(a) ?? r.fail(Array.isArray(v) ? `${p}[${i}]` : p, `unknown architecture ${a}: use any, amd64 or arm64`));
    return OCI_ARCHES.filter((a) => arches.includes(a));
  });
  const data = r.optional(o, 'data', '', (v, p) => (v === false ? null : v === true ? '/data' : r.string(v, p, ABSOLUTE_PATH)));
  const memory = r.optional(resDoc, 'memory', 'resources', (v, p) =>
    typeof v === 'number' ? r.integer(v, p, 1) : r.string(v, p, SIZE, 'expected bytes or a size such as 64Mi'),
  );

  const dataSize = r.optional(resDoc, 'data', 'resources', (v, p) => {
    const bytes = typeof v === 'number' ? r.integer(v, p, 1) : parseSize(r.string(v, p, SIZE, 'expected bytes or a size such as 64Mi'));
    return bytes >= MIN_DATA_BYTES ? bytes : r.fail(p, `at least ${MIN_DATA_BYTES / 1024 ** 2}Mi (an ext4 volume smaller than that holds little besides its journal)`);
  });

  const runtime = r.optional(o, 'runtime', '', (v, p) => r.oneOf(v, p, ['none', 'node'] as const)) ?? 'none';
  const config = {
    schemaVersion: 1,
    name: r.required(o, 'name', '', (v, p) => r.string(v, p, IMAGE_NAME, 'expected a lowercase name of letters, digits and -')),
    version: r.required(o, 'version', '', (v, p) => r.string(v, p, /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/, 'expected a version such as 1.2.0')),
    description: r.optional(o, 'description', '', str) ?? '',
    os: 'linux' as const,
    architecture: 'amd64' as OciArch,
    runtime,
    entrypoint: from ? (r.optional(o, 'entrypoint', '', (v, p) => r.stringArray(v, p)) ?? []) : r.required(o, 'entrypoint', '', (v, p) => r.stringArray(v, p)),
    env: Object.keys(env)
      .sort()
      .map((key) => {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) r.fail(`env.${key}`, 'not a valid variable name');
        const value = env[key];
        if (typeof value !== 'string' && typeof value !== 'number') r.fail(`env.${key}`, 'expected a string');
        return `${key}=${value}`;
      }),
    workdir: r.optional(o, 'workdir', '', (v, p) => r.string(v, p, ABSOLUTE_PATH, 'expected an absolute path')) ?? '/app',
    user: { uid, gid },
    ports,
    health: healthDoc
      ? {
          ...(healthDoc.http !== undefined ? { http: r.string(healthDoc.http, 'health.http') } : {}),
          // With `from:` and no ports, the source's first exposed port will be named http (publish/compose.ts).
          port: r.optional(healthDoc, 'port', 'health', str) ?? ports[0]?.name ?? (o.from !== undefined ? 'http' : r.fail('health', 'needs a port to check')),
          intervalMs: r.optional(healthDoc, 'intervalMs', 'health', (v, p) => r.integer(v, p, 1)) ?? 50,
          timeoutMs: r.optional(healthDoc, 'timeoutMs', 'health', (v, p) => r.integer(v, p, 1)) ?? 10_000,
        }
      : null,
    idle: {
      afterSeconds: r.optional(idleDoc, 'after', 'idle', (v, p) => r.integer(v, p, 0)) ?? 300,
      action: r.optional(idleDoc, 'action', 'idle', (v, p) => r.oneOf(v, p, ['stop', 'freeze'] as const)) ?? 'stop',
    },
    resources: {
      memoryBytes: typeof memory === 'string' ? parseSize(memory) : (memory ?? 128 * 1024 ** 2),
      pids: r.optional(resDoc, 'pids', 'resources', (v, p) => r.integer(v, p, 1)) ?? 64,
      cpuWeight: r.optional(resDoc, 'cpuWeight', 'resources', (v, p) => r.integer(v, p, 1, 10000)) ?? 100,
      dataBytes: dataSize ?? DEFAULT_DATA_BYTES,
    },
    network: r.optional(o, 'network', '', (v, p) => r.oneOf(v, p, ['none', 'host'] as const)) ?? 'none',
    data: data ? { path: data } : null,
    handover: {
      mode: r.optional(handDoc, 'mode', 'handover', (v, p) => r.oneOf(v, p, ['signal', 'exclusive', 'none'] as const)) ?? 'none',
      timeoutSeconds: r.optional(handDoc, 'timeout', 'handover', (v, p) => r.integer(v, p, 0, 3600)) ?? 5,
    },
    allowSetuid: r.optional(o, 'allowSetuid', '', (v, p) => r.boolean(v, p)) ?? false,
    stopSignal: r.optional(o, 'stopSignal', '', (v, p) => r.oneOf(v, p, STOP_SIGNALS)) ?? 'SIGTERM',
    // A program of its own as PID 1 rarely handles signals or reaps children; the bundled Node apps do.
    init: r.optional(o, 'init', '', (v, p) => r.boolean(v, p)) ?? runtime === 'none',
  };
  const files = (r.optional(o, 'files', '', (v, p) => r.array(v, p)) ?? [{ from: '.', to: '/app' }]).map((item, i) => {
    const f = r.object(item, `files[${i}]`, ['from', 'to']);
    const from = r.required(f, 'from', `files[${i}]`, str);
    if (from.startsWith('/') || from.split('/').includes('..')) r.fail(`files[${i}].from`, 'must stay inside the image folder');
    return { from, to: r.required(f, 'to', `files[${i}]`, (v, p) => r.string(v, p, ABSOLUTE_PATH, 'expected an absolute path')) };
  });
  const explicit: ExplicitFields = {};
  if (o.entrypoint !== undefined) explicit.entrypoint = config.entrypoint;
  if (o.env !== undefined) explicit.env = config.env;
  if (o.workdir !== undefined) explicit.workdir = config.workdir;
  if (userText !== undefined) explicit.user = config.user;
  if (o.ports !== undefined) explicit.ports = config.ports;
  if (o.stopSignal !== undefined) explicit.stopSignal = config.stopSignal;
  // The same guard the device uses: whatever the publisher writes, the device accepts. With `from:`, the check
  // waits until the source's defaults are in (publish/compose.ts).
  const debian = r.optional(o, 'debian', '', (v, p) => readDebian(r, v, p)) ?? null;
  return { config: from ? (config as ImageConfig) : readImageConfig(config, where, 'SCHEMA_INVALID'), files, architecture: architecture ?? null, from: from ?? null, explicit, debian };
}

/**
 * `from:` in skopeo's syntax: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF], or a registry
 * reference oci://HOST/REPO:TAG (also @sha256:…; oci+http:// for plain HTTP). Paths are relative to the image folder.
 */
export function parseImageSource(r: Reader, text: string, path: string): ImageSource {
  if (isOciUrl(text)) {
    const m = /^(oci(?:\+http)?:\/\/[^/]+\/[^:@]+)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127})|@(sha256:[0-9a-f]{64}))$/.exec(text);
    if (!m) r.fail(path, `${text}: expected oci://HOST/REPOSITORY:TAG or …@sha256:DIGEST`);
    return { kind: 'registry', location: m[1]!, ref: m[2] ?? m[3]! };
  }
  const m = /^(oci|oci-archive|docker-archive):([^:]+)(?::(.+))?$/.exec(text);
  if (!m) r.fail(path, `${text}: expected oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF] or oci://HOST/REPOSITORY:TAG`);
  return { kind: m[1] as 'oci' | 'oci-archive' | 'docker-archive', path: m[2]!, ref: m[3] ?? null };
}

/** `debian: [python3]` or `debian: { packages: [python3], keep: [docs] }`. */
function readDebian(r: Reader, value: unknown, path: string): DebianSpec {
  const o = Array.isArray(value) ? { packages: value } : r.object(value, path, ['packages', 'keep']);
  const at = Array.isArray(value) ? path : `${path}.packages`;
  const packages = Array.isArray(value) ? r.stringArray(value, path) : r.required(o, 'packages', path, (v, p) => r.stringArray(v, p));
  if (!packages.length) r.fail(at, 'name at least one package, or leave debian out');
  packages.forEach((name, i) => {
    // Versions come from the lock, never from image.yaml: `python3=3.11…` or `python3 (>= 3)` is refused.
    if (!DEB_NAME.test(name)) r.fail(`${at}[${i}]`, `${JSON.stringify(name)} is not a Debian package name (lowercase letters, digits, + - .)`);
    if (packages.indexOf(name) !== i) r.fail(`${at}[${i}]`, `duplicate package: ${name}`);
  });
  const keep = (r.optional(o, 'keep', path, (v, p) => r.array(v, p)) ?? []).map((k, i) => r.oneOf(k, `${path}.keep[${i}]`, DEBIAN_KEEP));
  return { packages, keep: [...new Set(keep)].sort() };
}

function parseSize(text: string): number {
  const [, digits, unit] = SIZE.exec(text)!;
  return Number(digits) * UNITS[unit ?? '']!;
}
