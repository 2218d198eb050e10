// The runtime adapter: an OCI runtime config.json generated from the image config, and runc driven through its CLI
// (run / kill / pause / resume / delete). No namespace or cgroup code of our own: runc does it, on cgroup v1
// (this host's hybrid mode) and v2 (the device) alike. The only cgroup access is a read of the OOM-kill counter
// of a stopped container (runc keeps its cgroup until `runc delete` because the agent runs it with --keep).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { constants, existsSync, realpathSync, statSync } from 'node:fs';
import { access, mkdir, readFile, readdir, realpath, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';
import { run } from '../../../../fetcher/src/core/proc.js';
import { DEFAULT_LIMITS } from '../../../../fetcher/src/core/limits.js';
import { DEFAULT_PATH, type ImageConfig, type StopSignal } from '../../../../fetcher/src/formats/image-config.js';
import type { MountPoint } from './mount-points.js';
import type { DeviceNode } from './screen-devices.js';
import { seccompProfile } from './seccomp.js';

const execFileP = promisify(execFile);

export interface Bind {
  source: string;
  target: string;
}

export interface ContainerSpecInput {
  config: ImageConfig;
  rootfs: string;
  hostname: string;
  /** Host directory bound read-write at the image's data path (null: no /data). */
  dataDir: string | null;
  /** Path of the network namespace to join (network none), or null to share the host's (network host). */
  netnsPath: string | null;
  /** Read-only binds of the bundled runtime (Node) when the image asks for it. */
  runtimeBinds: Bind[];
  /** The host's static tini (locateInit), bound at INIT_TARGET when the image asks for an init; else null. */
  initBinary: string | null;
  /** cgroupsPath, relative: runc places it under its own cgroup. */
  cgroupsPath: string;
  arch: string;
  tmpBytes: number;
  maxOpenFiles: number;
  extraEnv: string[];
  /** Device nodes made in the container and allowed by its device cgroup: the display app's screen, else none. */
  devices?: readonly DeviceNode[];
}

/**
 * Where the init is bound in the container. /dev is a tmpfs that runc mounts before the binds, so it makes the file
 * there itself: nothing is created in the (read-only) image root, and the path never clashes with the image's files.
 */
export const INIT_TARGET = '/dev/init';

/** Where the agent finds tini on the host and on the device (the OS image ships Debian's tini, bootos/os/bootos.yaml). */
export const DEFAULT_INIT_BINARY = '/usr/bin/tini-static';

/**
 * PATH when the image sets none: the OCI/Docker default. HOME: /tmp, the one place an app can always write to.
 * The image's env overrides both, and the agent's BOOTOS_* variables override the image's.
 */
export const DEFAULT_ENV = [`PATH=${DEFAULT_PATH}`, 'HOME=/tmp'];

/** NAME=value lists merged in order, a later NAME replacing an earlier one in its place: each name appears once. */
export function mergeEnv(...lists: string[][]): string[] {
  const byName = new Map<string, string>();
  for (const list of lists) {
    for (const pair of list) {
      const at = pair.indexOf('=');
      byName.set(at < 0 ? pair : pair.slice(0, at), pair);
    }
  }
  return [...byName.values()];
}

/**
 * The process's argv. With an init, tini is PID 1 and runs the entrypoint as its only child: it forwards every signal
 * it gets (runc kill's stop signal, the hand-over's SIGUSR1/SIGUSR2) to that child, reaps every orphan that the
 * kernel hands to PID 1, and exits with the child's status (128+N if a signal N ended it). Flags left out on purpose:
 *   -s   subreaper: only needed when tini is not PID 1; here it always is.
 *   -g   signal the child's whole process group: the hand-over's SIGUSR1 would then kill every helper process of the
 *        app that has no handler for it. Only the entrypoint gets signals, as when it was PID 1 itself.
 *   -e N count exit status N as 0: the agent knows it asked for a stop and records the true status (143 after a
 *        SIGTERM stop, 137 after the SIGKILL that ends the grace period); remapping would hide an app that exits 143
 *        on its own.
 */
export function processArgs(config: ImageConfig): string[] {
  return config.init ? [INIT_TARGET, '--', ...config.entrypoint] : config.entrypoint;
}

/**
 * The init binary to bind: `path` must be an executable regular file (a static one, so that it runs in any image,
 * glibc or musl or none). APP_INIT_MISSING otherwise: an app that asks for an init never runs without one.
 */
export async function locateInit(path = DEFAULT_INIT_BINARY): Promise<string> {
  try {
    const real = await realpath(path);
    if (!(await stat(real)).isFile()) throw new Error('not a regular file');
    await access(real, constants.X_OK);
    return real;
  } catch (err) {
    throw new BootosError('APP_INIT_MISSING', `the image asks for an init (init: true) and ${path} cannot be used: ${(err as Error).message}; install Debian's tini (it has tini-static)`, { cause: err });
  }
}

/** cpu.weight (1..10000, cgroup v2) → cpu.shares (2..262144), the inverse of runc's conversion on v2. */
export function sharesFromWeight(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}

/** The OCI runtime spec (config.json) of one app run. Pure: the same input gives the same document. */
export function containerSpec(input: ContainerSpecInput): Record<string, unknown> {
  const { config } = input;
  const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.netnsPath) namespaces.push({ type: 'network', path: input.netnsPath });
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${input.tmpBytes}`] },
  ];
  if (input.dataDir && config.data) {
    mounts.push({ destination: config.data.path, type: 'bind', source: input.dataDir, options: ['rbind', 'rw', 'nosuid', 'nodev'] });
  }
  const binds = [...input.runtimeBinds];
  if (config.init) {
    if (!input.initBinary) throw new BootosError('APP_INIT_MISSING', `${config.name} asks for an init (init: true) and none was given`);
    binds.push({ source: input.initBinary, target: INIT_TARGET });
  }
  for (const bind of binds) {
    mounts.push({ destination: bind.target, type: 'bind', source: bind.source, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  }
  const env = mergeEnv(DEFAULT_ENV, config.env, input.extraEnv);
  const devices = input.devices ?? [];
  // The owning groups of the nodes, as supplementary groups of the app's user (video, input): nothing else.
  const additionalGids = [...new Set(devices.map((d) => d.gid))].sort((a, b) => a - b);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: config.user.uid, gid: config.user.gid, additionalGids },
      args: processArgs(config),
      env,
      cwd: config.workdir,
      // No capabilities at all, in any set.
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: input.maxOpenFiles, soft: input.maxOpenFiles }],
      noNewPrivileges: true,
      // Under global memory pressure the kernel kills an app before the agent.
      oomScoreAdj: 500,
    },
    root: { path: input.rootfs, readonly: true },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      // runc makes these in the container's /dev tmpfs (nothing of the host's /dev is bound).
      ...(devices.length
        ? { devices: devices.map((d) => ({ path: d.path, type: 'c', major: d.major, minor: d.minor, fileMode: 0o660, uid: 0, gid: d.gid })) }
        : {}),
      resources: {
        // Deny every device, then allow read and write (no mknod) of exactly the nodes above.
        devices: [
          { allow: false, access: 'rwm' },
          ...devices.map((d) => ({ allow: true, type: 'c', major: d.major, minor: d.minor, access: 'rw' })),
        ],
        memory: { limit: config.resources.memoryBytes },
        pids: { limit: config.resources.pids },
        cpu: { shares: sharesFromWeight(config.resources.cpuWeight) },
      },
      // Its own network namespace: let the unprivileged app bind low ports there (it cannot anywhere else).
      sysctl: input.netnsPath ? { 'net.ipv4.ip_unprivileged_port_start': '0' } : {},
      seccomp: seccompProfile(input.arch),
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi', '/sys/fs/cgroup', '/proc/kallsyms',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/**
 * The bundled Node runtime as read-only binds: the binary at /usr/bin/node plus the shared libraries it loads.
 * Found once per agent: `ldd` lists them on a host run; without ldd (the device) the library folders are bound.
 */
export async function nodeRuntimeBinds(nodePath = process.execPath): Promise<Bind[]> {
  const binds: Bind[] = [{ source: realpathSync(nodePath), target: '/usr/bin/node' }];
  try {
    const { stdout } = await execFileP('ldd', [nodePath]);
    for (const line of stdout.split('\n')) {
      // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
      const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
      if (m && m[1]) binds.push({ source: realpathSync(m[1]), target: m[1] });
    }
  } catch {
    for (const dir of ['/lib', '/lib64', '/usr/lib']) {
      if (existsSync(dir)) binds.push({ source: realpathSync(dir), target: dir });
    }
  }
  return binds;
}

/**
 * The mount points that /tmp, the binds and the data path need inside the image root. runc gives a tmpfs the mode of
 * the directory it covers (runc 1.1 chmods the mount to it, whatever mode= says), and images often have a 0755 /tmp
 * or none (then runc makes one, 0755, for the next start): /tmp is made or set 1777 so that the app's uid can write.
 */
export function mountPoints(binds: Bind[], dataPath: string | null): MountPoint[] {
  const points: MountPoint[] = [{ path: '/tmp', file: false, mode: 0o1777 }];
  points.push(...binds.map((b) => ({ path: b.target, file: !isDir(b.source) })));
  if (dataPath) points.push({ path: dataPath, file: false });
  return points;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Signals the agent sends: a stop signal of the image, the hand-over's USR1/USR2, TERM and KILL. */
export type RuncSignal = StopSignal | 'TERM' | 'KILL' | 'USR1' | 'USR2';

export interface ExitStatus {
  /** Exit code of the app (runc run reports 128+N for a signal N). */
  code: number;
}

export interface RunningContainer {
  id: string;
  process: ChildProcess;
  exited: Promise<ExitStatus>;
}

/** runc, with a state root of the agent's own so that its containers never mix with anyone else's. */
export class Runc {
  constructor(
    readonly bin: string,
    readonly root: string,
    /** Largest output read from one command (limits.maxRuncOutputBytes). */
    private readonly maxOutputBytes = DEFAULT_LIMITS.maxRuncOutputBytes,
  ) {}

  private async cmd(args: string[], what: string): Promise<string> {
    const result = await run(this.bin, ['--root', this.root, ...args], { code: 'RUNTIME_ERROR', what: `runc ${what}`, maxOutputBytes: this.maxOutputBytes });
    return result.stdout;
  }

  async writeBundle(bundle: string, spec: Record<string, unknown>): Promise<void> {
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2), { mode: 0o600 });
  }

  /**
   * `runc run --keep`: runc stays the parent of the app, passes our pipes as its stdio and exits with its status.
   * --keep leaves the stopped container (and its cgroup, for the OOM counter) until delete().
   */
  run(id: string, bundle: string): RunningContainer {
    const child = spawn(this.bin, ['--root', this.root, 'run', '--keep', '--bundle', bundle, id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<ExitStatus>((done) => {
      child.once('error', () => done({ code: 255 }));
      child.once('exit', (code, signal) => done({ code: code ?? 128 + (signal ? signalNumber(signal) : 0) }));
    });
    return { id, process: child, exited };
  }

  /** runc kill takes a signal's name with or without SIG (runc 1.1: strings.TrimPrefix(name, "SIG")). */
  kill(id: string, signal: RuncSignal): Promise<string> {
    return this.cmd(['kill', id, signal], `kill ${id} ${signal}`);
  }

  pause(id: string): Promise<string> {
    return this.cmd(['pause', id], `pause ${id}`);
  }

  resume(id: string): Promise<string> {
    return this.cmd(['resume', id], `resume ${id}`);
  }

  async delete(id: string): Promise<void> {
    await this.cmd(['delete', '--force', id], `delete ${id}`).catch((err: BootosError) => {
      if (!/does not exist|not exist/.test(err.message)) throw err;
    });
  }

  /** The containers in this state root. None without asking runc when the root is missing or empty (every boot). */
  async list(): Promise<{ id: string; status: string; pid: number }[]> {
    const entries = await readdir(this.root).catch((err) => (errnoCode(err) === 'ENOENT' ? [] : Promise.reject(err)));
    if (entries.length === 0) return [];
    const out = await this.cmd(['list', '--format', 'json'], 'list');
    const parsed: unknown = JSON.parse(out.trim() || 'null');
    if (!Array.isArray(parsed)) return [];
    return parsed.map((c: { id: string; status: string; pid: number }) => ({ id: c.id, status: c.status, pid: c.pid }));
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 } as Record<string, number>)[signal] ?? 0;
}

/**
 * How many processes of a container the kernel's OOM killer killed, read from its cgroup (kept by --keep):
 * memory.events on cgroup v2, memory.oom_control on v1. 0 when it cannot be read.
 */
export async function oomKills(cgroupsPath: string): Promise<number> {
  const own = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  const candidates: string[] = [];
  for (const line of own.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers === '') candidates.push(join('/sys/fs/cgroup', path, cgroupsPath, 'memory.events'));
    if (controllers?.split(',').includes('memory')) candidates.push(join('/sys/fs/cgroup/memory', path, cgroupsPath, 'memory.oom_control'));
  }
  for (const file of candidates) {
    const text = await readFile(file, 'utf8').catch(() => null);
    const m = text && /^oom_kill (\d+)$/m.exec(text);
    if (m) return Number(m[1]);
  }
  return 0;
}
