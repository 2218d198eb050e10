// The bootos image config: how the agent runs an image. Built by the publisher from image.yaml (and a source
// image's config), carried in a standard OCI image config (oci-config.ts), read back by the device. One guard
// serves both.
import type { ErrorCode } from '../core/error.js';
import { Reader, IMAGE_NAME } from '../core/guard.js';
import { OCI_ARCHES, type OciArch } from '../core/arch.js';

export type IdleAction = 'stop' | 'freeze';
export type Network = 'none' | 'host';
export type Runtime = 'none' | 'node';
export type HandoverMode = 'signal' | 'exclusive' | 'none';

/** Signals an app may name as its stop signal (OCI StopSignal); SIGKILL follows after the grace period. */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

export interface PortSpec {
  /** Name used in logs and by the health check. */
  name: string;
  /** Port the app listens on inside its own network namespace. */
  port: number;
  /** Port the agent listens on for the device; defaults to `port`. */
  public: number;
}

export interface HealthCheck {
  /** HTTP path that must answer 2xx; without it, a TCP connect to the port counts as healthy. */
  http?: string;
  port: string;
  intervalMs: number;
  timeoutMs: number;
}

export interface ImageConfig {
  schemaVersion: 1;
  name: string;
  version: string;
  description: string;
  os: 'linux';
  /** The platform of the manifest that carries this config. */
  architecture: OciArch;
  runtime: Runtime;
  entrypoint: string[];
  env: string[];
  workdir: string;
  user: { uid: number; gid: number };
  ports: PortSpec[];
  health: HealthCheck | null;
  idle: { afterSeconds: number; action: IdleAction };
  /** dataBytes: the size of the app's `/data` volume (its quota), when the image has `data`. */
  resources: { memoryBytes: number; pids: number; cpuWeight: number; dataBytes: number };
  network: Network;
  data: { path: string } | null;
  handover: { mode: HandoverMode; timeoutSeconds: number };
  allowSetuid: boolean;
  /** Sent to the app's PID 1 to stop it (the source image's StopSignal, or image.yaml's). */
  stopSignal: StopSignal;
  /** A minimal init (tini, bound read-only by the agent) runs as PID 1: forwards signals, reaps zombies. */
  init: boolean;
}

const CONFIG_FIELDS = [
  'schemaVersion', 'name', 'version', 'description', 'os', 'architecture', 'runtime', 'entrypoint', 'env', 'workdir',
  'user', 'ports', 'health', 'idle', 'resources', 'network', 'data', 'handover', 'allowSetuid', 'stopSignal', 'init',
] as const;

/** The PATH an app gets when its image sets none (runc's and Docker's default); the publisher finds programs by it. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The size of an app's `/data` volume when image.yaml's `resources.data` does not say (and in older configs). */
export const DEFAULT_DATA_BYTES = 64 * 1024 * 1024;

/** The smallest `/data` volume: an ext4 file system smaller than this has almost no room besides its journal. */
export const MIN_DATA_BYTES = 8 * 1024 * 1024;

export const ABSOLUTE_PATH = /^\/([^/\0]+(\/[^/\0]+)*)?$/;

/** Checks a config fetched from a registry (or built by the publisher) field by field. */
export function readImageConfig(value: unknown, where = 'image config', code: ErrorCode = 'REGISTRY_INVALID'): ImageConfig {
  const r = new Reader(code, where);
  const o = r.object(value, '', CONFIG_FIELDS);
  const req = <T>(key: string, f: (v: unknown, p: string) => T) => r.required(o, key, '', f);
  const user = r.object(req('user', (v) => v), 'user', ['uid', 'gid']);
  const idle = r.object(req('idle', (v) => v), 'idle', ['afterSeconds', 'action']);
  const resources = r.object(req('resources', (v) => v), 'resources', ['memoryBytes', 'pids', 'cpuWeight', 'dataBytes']);
  const handover = r.object(req('handover', (v) => v), 'handover', ['mode', 'timeoutSeconds']);
  const ports = req('ports', (v, p) => r.array(v, p)).map((item, i): PortSpec => {
    const p = r.object(item, `ports[${i}]`, ['name', 'port', 'public']);
    return {
      name: r.required(p, 'name', `ports[${i}]`, (v, f) => r.string(v, f, /^[a-z][a-z0-9-]*$/)),
      port: r.required(p, 'port', `ports[${i}]`, (v, f) => r.integer(v, f, 1, 65535)),
      public: r.required(p, 'public', `ports[${i}]`, (v, f) => r.integer(v, f, 1, 65535)),
    };
  });
  const healthValue = o.health;
  let health: HealthCheck | null = null;
  if (healthValue !== null && healthValue !== undefined) {
    const h = r.object(healthValue, 'health', ['http', 'port', 'intervalMs', 'timeoutMs']);
    health = {
      port: r.required(h, 'port', 'health', (v, f) => r.string(v, f)),
      intervalMs: r.required(h, 'intervalMs', 'health', (v, f) => r.integer(v, f, 1)),
      timeoutMs: r.required(h, 'timeoutMs', 'health', (v, f) => r.integer(v, f, 1)),
    };
    const http = r.optional(h, 'http', 'health', (v, f) => r.string(v, f, /^\//, 'expected a path starting with /'));
    if (http !== undefined) health.http = http;
    if (!ports.some((p) => p.name === health!.port)) r.fail('health.port', `names no port of the image: ${health.port}`);
  }
  const dataValue = o.data;
  return {
    schemaVersion: req('schemaVersion', (v, p) => (v === 1 ? 1 : r.fail(p, 'expected 1'))),
    name: req('name', (v, p) => r.string(v, p, IMAGE_NAME, 'expected a lowercase name of letters, digits and -')),
    version: req('version', (v, p) => r.string(v, p, /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/)),
    description: req('description', (v, p) => r.string(v, p)),
    os: req('os', (v, p) => r.oneOf(v, p, ['linux'] as const)),
    architecture: req('architecture', (v, p) => r.oneOf(v, p, OCI_ARCHES)),
    runtime: req('runtime', (v, p) => r.oneOf(v, p, ['none', 'node'] as const)),
    entrypoint: req('entrypoint', (v, p) => {
      const list = r.stringArray(v, p);
      if (list.length === 0) r.fail(p, 'must name a program');
      return list;
    }),
    env: req('env', (v, p) => r.stringArray(v, p).map((e, i) => r.string(e, `${p}[${i}]`, /^[A-Za-z_][A-Za-z0-9_]*=/, 'expected NAME=value'))),
    workdir: req('workdir', (v, p) => r.string(v, p, ABSOLUTE_PATH, 'expected an absolute path')),
    user: {
      uid: r.required(user, 'uid', 'user', (v, p) => r.integer(v, p, 0, 65535)),
      gid: r.required(user, 'gid', 'user', (v, p) => r.integer(v, p, 0, 65535)),
    },
    ports,
    health,
    idle: {
      afterSeconds: r.required(idle, 'afterSeconds', 'idle', (v, p) => r.integer(v, p, 0)),
      action: r.required(idle, 'action', 'idle', (v, p) => r.oneOf(v, p, ['stop', 'freeze'] as const)),
    },
    resources: {
      memoryBytes: r.required(resources, 'memoryBytes', 'resources', (v, p) => r.integer(v, p, 4 * 1024 * 1024)),
      pids: r.required(resources, 'pids', 'resources', (v, p) => r.integer(v, p, 1)),
      cpuWeight: r.required(resources, 'cpuWeight', 'resources', (v, p) => r.integer(v, p, 1, 10000)),
      // Configs published before the field existed get the default.
      dataBytes: r.optional(resources, 'dataBytes', 'resources', (v, p) => r.integer(v, p, MIN_DATA_BYTES)) ?? DEFAULT_DATA_BYTES,
    },
    network: req('network', (v, p) => r.oneOf(v, p, ['none', 'host'] as const)),
    data:
      dataValue === null || dataValue === undefined
        ? null
        : { path: r.required(r.object(dataValue, 'data', ['path']), 'path', 'data', (v, p) => r.string(v, p, ABSOLUTE_PATH)) },
    handover: {
      mode: r.required(handover, 'mode', 'handover', (v, p) => r.oneOf(v, p, ['signal', 'exclusive', 'none'] as const)),
      timeoutSeconds: r.required(handover, 'timeoutSeconds', 'handover', (v, p) => r.integer(v, p, 0, 3600)),
    },
    allowSetuid: req('allowSetuid', (v, p) => r.boolean(v, p)),
    stopSignal: req('stopSignal', (v, p) => r.oneOf(v, p, STOP_SIGNALS)),
    init: req('init', (v, p) => r.boolean(v, p)),
  };
}
