// The runtime adapter: an OCI runtime config.json generated from the image config, and runc driven through its CLI
// (run / kill / pause / resume / delete). No namespace or cgroup code of our own: runc does it, on cgroup v1
// (this host's hybrid mode) and v2 (the device) alike. The only cgroup access is a read of the OOM-kill counter
// of a stopped container (runc keeps its cgroup until `runc delete` because the agent runs it with --keep).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';
import { run } from '../../../../fetcher/src/core/proc.js';
import { DEFAULT_LIMITS } from '../../../../fetcher/src/core/limits.js';
import type { ImageConfig } from '../../../../fetcher/src/formats/image-config.js';
import type { MountPoint } from './mount-points.js';
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
  /** cgroupsPath, relative: runc places it under its own cgroup. */
  cgroupsPath: string;
  arch: string;
  tmpBytes: number;
  maxOpenFiles: number;
  extraEnv: string[];
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
  for (const bind of input.runtimeBinds) {
    mounts.push({ destination: bind.target, type: 'bind', source: bind.source, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  }
  const env = ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/tmp', ...config.env, ...input.extraEnv];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: config.user.uid, gid: config.user.gid, additionalGids: [] },
      args: config.entrypoint,
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
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: config.resources.memoryBytes },
        pids: { limit: config.resources.pids },
        cpu: { shares: sharesFromWeight(config.resources.cpuWeight) },
      },
      // Its own network namespace: let the unprivileged app bind low ports there (it cannot anywhere else).
      sysctl: input.netnsPath ? { 'net.ipv4.ip_unprivileged_port_start': '0' } : {},
      seccomp: seccompProfile(input.arch),
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi', '/sys/fs/cgroup',
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

/** The mount points that the binds and the data path need inside the image root. */
export function mountPoints(binds: Bind[], dataPath: string | null): MountPoint[] {
  const points = binds.map((b) => ({ path: b.target, file: !isDir(b.source) }));
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

  kill(id: string, signal: 'TERM' | 'KILL' | 'USR1' | 'USR2'): Promise<string> {
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
