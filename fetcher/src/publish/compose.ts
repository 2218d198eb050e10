// One platform's bootos config: image.yaml's settings, with a `from:` source's process as defaults for what
// image.yaml leaves out (Entrypoint + Cmd, Env merged by name, WorkingDir, User, ExposedPorts, StopSignal), then
// checked by the device's own guard; and the checks that need the merged root (image-tree.ts): no native code
// for another architecture, an entrypoint that exists and is executable.
import type { OciArch } from '../core/arch.js';
import { BootosError } from '../core/error.js';
import { DEFAULT_PATH, STOP_SIGNALS, readImageConfig, type ImageConfig, type PortSpec, type StopSignal } from '../formats/image-config.js';
import type { ImageSpec } from '../formats/image-spec.js';
import type { ImageTree } from './image-tree.js';
import type { SourceProcess } from './source-image.js';

/** The user a source image that runs as root is given instead: bootos never runs an app as uid 0. */
const FALLBACK_USER = { uid: 1000, gid: 1000 };

export function composeConfig(
  spec: ImageSpec,
  architecture: OciArch,
  source: { display: string; process: SourceProcess } | null,
  tree: ImageTree,
  note: (message: string) => void,
): ImageConfig {
  const where = `${spec.dir}/image.yaml`;
  const { explicit } = spec;
  const config: ImageConfig = { ...spec.config, architecture };
  if (source) {
    const p = source.process;
    config.entrypoint = explicit.entrypoint ?? p.entrypoint;
    if (config.entrypoint.length === 0) throw new BootosError('SCHEMA_INVALID', `${where}: ${source.display} has no Entrypoint or Cmd: set entrypoint:`);
    config.env = mergeEnv(p.env, explicit.env ?? []);
    config.workdir = explicit.workdir ?? p.workdir;
    config.user = explicit.user ?? sourceUser(p.user, tree, source.display, note);
    config.ports = explicit.ports ?? sourcePorts(p.exposedPorts);
    config.stopSignal = explicit.stopSignal ?? sourceSignal(p.stopSignal, source.display, where);
  }
  const checked = readImageConfig(config, where, 'SCHEMA_INVALID');
  checkProgram(checked, tree, where);
  return checked;
}

/** Refuses native code for another platform (every native file when `any`), and a missing entrypoint. */
export function checkNative(tree: ImageTree, architecture: OciArch | null, where: string): void {
  const foreign = tree.foreignNative(architecture);
  if (foreign.length === 0) return;
  const list = foreign.slice(0, 5).map((f) => `/${f.path} (${f.arch})`).join(', ') + (foreign.length > 5 ? ` and ${foreign.length - 5} more` : '');
  throw new BootosError(
    'IMAGE_ARCH_MISMATCH',
    architecture === null
      ? `${where}: architecture is any, but the image holds native code: ${list}; set architecture: to the platforms it is built for`
      : `${where}: the ${architecture} image holds native code for another architecture: ${list}`,
  );
}

function checkProgram(config: ImageConfig, tree: ImageTree, where: string): void {
  const argv0 = config.entrypoint[0]!;
  // The bundled runtime is bound into the container by the agent; it is not in the image.
  if (config.runtime === 'node' && (argv0 === 'node' || argv0 === '/usr/bin/node')) return;
  const pathVar = [...config.env].reverse().find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const hit = tree.findProgram(argv0, pathVar);
  if (!hit) {
    throw new BootosError('IMAGE_ENTRYPOINT_MISSING', `${where}: the entrypoint ${argv0} is not a file in the ${config.architecture} image${argv0.includes('/') ? '' : ` (PATH ${pathVar})`}`);
  }
  if ((hit.entry.mode & 0o111) === 0) throw new BootosError('IMAGE_ENTRYPOINT_MISSING', `${where}: the entrypoint ${hit.path} is not executable (mode ${hit.entry.mode.toString(8)})`);
}

/** The source's variables, each replaced by image.yaml's of the same name; sorted by name. */
function mergeEnv(base: string[], overrides: string[]): string[] {
  const byName = new Map<string, string>();
  for (const e of [...base, ...overrides]) byName.set(e.split('=')[0]!, e);
  return [...byName.keys()].sort().map((k) => byName.get(k)!);
}

function sourceUser(user: string, tree: ImageTree, display: string, note: (m: string) => void): { uid: number; gid: number } {
  const resolved = user === '' ? { uid: 0, gid: 0 } : tree.lookupUser(user);
  if (!resolved) throw new BootosError('IMAGE_SOURCE_INVALID', `${display}: its User ${user} is not in the image's /etc/passwd or /etc/group; set user: UID:GID`);
  if (resolved.uid !== 0) return resolved;
  note(`${display} runs as root; bootos runs it as ${FALLBACK_USER.uid}:${FALLBACK_USER.gid} (set user: UID:GID to choose)`);
  return FALLBACK_USER;
}

function sourcePorts(exposed: string[]): PortSpec[] {
  const ports = exposed
    .map((p) => /^(\d+)(?:\/tcp)?$/.exec(p))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  return ports.map((port, i) => ({ name: i === 0 ? 'http' : `port${i}`, port, public: port }));
}

function sourceSignal(signal: string | null, display: string, where: string): StopSignal {
  if (signal === null) return 'SIGTERM';
  const name = /^\d+$/.test(signal) ? NUMBERED[Number(signal)] : signal.startsWith('SIG') ? signal : `SIG${signal}`;
  if ((STOP_SIGNALS as readonly string[]).includes(name ?? '')) return name as StopSignal;
  throw new BootosError('SCHEMA_INVALID', `${where}: ${display} stops with ${signal}, which bootos does not send; set stopSignal: to one of ${STOP_SIGNALS.join(', ')}`);
}

const NUMBERED: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 10: 'SIGUSR1', 12: 'SIGUSR2', 15: 'SIGTERM', 28: 'SIGWINCH' };
