// The agent's configuration: from the kernel command line on the device (`bootos.*` keys), or from a JSON file for
// host runs. Everything is checked here, at the boundary; every limit the agent enforces lives in AgentLimits.
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { ARCHES, hostArch } from '../../../fetcher/src/core/arch.js';
import { BootosError, errnoCode } from '../../../fetcher/src/core/error.js';
import { Reader, parseJson } from '../../../fetcher/src/core/guard.js';
import { parseRegistryLocation } from '../../../fetcher/src/formats/registry-url.js';
import { CHANNEL_NAME } from '../../../fetcher/src/formats/trust-docs.js';

export interface AgentLimits {
  /** First retry delay after a failed channel fetch; doubles up to channelRetryMaxMs. */
  channelRetryMinMs: number;
  channelRetryMaxMs: number;
  /** How long a start may take until the app's port accepts (or its health check passes). */
  startTimeoutMs: number;
  /** Between connect attempts while an app starts. */
  readyPollMs: number;
  /** SIGTERM → SIGKILL grace period when stopping an app. */
  stopGraceMs: number;
  /** A crash loop: this many unexpected exits within crashWindowMs. */
  crashLoopCount: number;
  crashWindowMs: number;
  /** Backoff of a failed app: first delay, doubled per further crash loop up to crashBackoffMaxMs. */
  crashBackoffMinMs: number;
  crashBackoffMaxMs: number;
  /** Output lines kept per app (GET /api/apps/:name/logs, error.logTail shows the last logTailLines). */
  logLines: number;
  logTailLines: number;
  /** Memory pressure: below this MemAvailable, frozen apps are stopped, longest idle first. */
  memoryLowBytes: number;
  memoryCheckIntervalMs: number;
  /** Size of each app's /tmp (a tmpfs). */
  tmpBytes: number;
  /** Open files per app process (RLIMIT_NOFILE). */
  maxOpenFiles: number;
  /** SSE: at most this often an `apps` event while something changes (progress, counters). */
  eventsThrottleMs: number;
  /** Hot updates (issue 6): the channel is polled every channelPollIntervalMs ± channelPollJitterMs (0 = never). */
  channelPollIntervalMs: number;
  channelPollJitterMs: number;
  /** How long a new version may take to pass its health check in a hot update. */
  updateStartTimeoutMs: number;
  /** How long the old version may keep open connections after the switch before it is stopped anyway. */
  updateDrainTimeoutMs: number;
  /** While the old version drains: a connection quiet this long after the app's last bytes (idle keep-alive) is closed. */
  updateIdleCloseMs: number;
  /** After the switch: a crash of the new version within this time rolls back; then the snapshot is dropped. */
  updateGraceMs: number;
  /** Free bytes a /data snapshot must leave on the data root. */
  snapshotReserveBytes: number;
  /** How long the agent waits for the data root while /init still mounts it (<runDir>/data-pending exists). */
  dataRootWaitMs: number;
}

export const DEFAULT_AGENT_LIMITS: AgentLimits = {
  channelRetryMinMs: 1_000,
  channelRetryMaxMs: 60_000,
  startTimeoutMs: 20_000,
  readyPollMs: 3,
  stopGraceMs: 5_000,
  crashLoopCount: 3,
  crashWindowMs: 60_000,
  crashBackoffMinMs: 10_000,
  crashBackoffMaxMs: 300_000,
  logLines: 200,
  logTailLines: 20,
  memoryLowBytes: 64 * 1024 * 1024,
  memoryCheckIntervalMs: 2_000,
  tmpBytes: 64 * 1024 * 1024,
  maxOpenFiles: 1024,
  eventsThrottleMs: 100,
  channelPollIntervalMs: 300_000,
  channelPollJitterMs: 60_000,
  updateStartTimeoutMs: 20_000,
  updateDrainTimeoutMs: 10_000,
  updateIdleCloseMs: 100,
  updateGraceMs: 10_000,
  snapshotReserveBytes: 16 * 1024 * 1024,
  dataRootWaitMs: 300_000,
};

export interface AgentConfig {
  /** The registry: oci://, oci+http://, http(s):// (formats/registry-url.ts) or, on host runs, a directory. */
  registry: string;
  channel: string;
  profile: string;
  /** The trusted root baked into the image. */
  rootFile: string;
  /** Persisted trust state (newest root, channel versions seen). */
  stateDir: string;
  /** The content-addressed store of pulled images. */
  storeDir: string;
  /** Apps' /data: <dataRoot>/<app>. */
  dataRoot: string;
  /** Runtime state that does not survive a reboot: runc state, bundles, network slots. */
  runDir: string;
  apiHost: string;
  apiPort: number;
  /** Address the apps' public ports listen on. */
  appHost: string;
  /** x86_64 | aarch64 */
  arch: string;
  runc: string;
  /** The kiosk's static files (index.html …), served at `/`. */
  kioskDir: string;
  debug: boolean;
  limits: AgentLimits;
}

export const DEVICE_DATA_ROOT = '/var/lib/bootos';


export function defaultKioskDir(): string {
  // Beside the bundle: dist/kiosk/ on a host build, /usr/lib/bootos/kiosk/ on the device. Should this code ever land
  // in one of the device bundle's chunks (agent-chunks/), the kiosk is still beside agent.mjs, one folder up.
  const here = import.meta.url;
  return new URL(/\/agent-chunks\/[^/]+$/.test(here) ? '../kiosk/' : './kiosk/', here).pathname;
}

function defaults(dataRoot: string): Omit<AgentConfig, 'registry'> {
  return {
    channel: 'stable',
    profile: 'office',
    rootFile: '/etc/bootos/root.json',
    stateDir: join(dataRoot, 'state'),
    storeDir: join(dataRoot, 'store'),
    dataRoot: join(dataRoot, 'data'),
    runDir: '/run/bootos',
    apiHost: '0.0.0.0',
    apiPort: 8080,
    appHost: '0.0.0.0',
    arch: hostArch(),
    runc: 'runc',
    kioskDir: defaultKioskDir(),
    debug: false,
    limits: { ...DEFAULT_AGENT_LIMITS },
  };
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Kernel command line keys (contracts.md). An unknown `bootos.*` key is an error: a typo must not pass silently. */
const CMDLINE_KEYS = ['registry', 'channel', 'profile', 'debug', 'api_port', 'poll_seconds'] as const;
/** Keys that /init reads (bootos/os/files/init), not the agent: accepted and left alone here. */
const INIT_CMDLINE_KEYS: readonly string[] = ['data_wait'];

/** A registry location by the one grammar of formats/registry-url.ts; directories only in a host's JSON config. */
function registryOf(r: Reader, value: unknown, path: string, directories: boolean): string {
  const text = r.string(value, path);
  try {
    parseRegistryLocation(text, { directories });
  } catch (err) {
    r.fail(path, (err as Error).message);
  }
  return text;
}

/** Parses /proc/cmdline text. Only `bootos.*` words are read; everything else belongs to the kernel and init. */
export function configFromCmdline(text: string, overrides: { dataRoot?: string } = {}): AgentConfig {
  const r = new Reader('CONFIG_INVALID', 'kernel command line');
  const values: Record<string, string> = {};
  for (const word of text.trim().split(/\s+/)) {
    if (!word.startsWith('bootos.')) continue;
    const eq = word.indexOf('=');
    const key = (eq < 0 ? word : word.slice(0, eq)).slice('bootos.'.length);
    if (INIT_CMDLINE_KEYS.includes(key)) continue;
    if (!(CMDLINE_KEYS as readonly string[]).includes(key)) r.fail(`bootos.${key}`, `unknown key (known: ${CMDLINE_KEYS.map((k) => `bootos.${k}`).join(', ')})`);
    if (key in values) r.fail(`bootos.${key}`, 'given twice');
    values[key] = eq < 0 ? '1' : word.slice(eq + 1);
  }
  if (values.registry === undefined) r.fail('bootos.registry', 'required: the registry URL, e.g. bootos.registry=http://10.0.2.2:8080/');
  const config: AgentConfig = {
    registry: registryOf(r, values.registry, 'bootos.registry', false),
    ...defaults(overrides.dataRoot ?? DEVICE_DATA_ROOT),
  };
  if (values.channel !== undefined) config.channel = r.string(values.channel, 'bootos.channel', CHANNEL_NAME, 'expected a channel name');
  if (values.profile !== undefined) config.profile = r.string(values.profile, 'bootos.profile', PROFILE_NAME, 'expected a profile name');
  if (values.debug !== undefined) config.debug = r.oneOf(values.debug, 'bootos.debug', ['0', '1'] as const) === '1';
  if (values.api_port !== undefined) {
    if (!/^\d{1,5}$/.test(values.api_port)) r.fail('bootos.api_port', 'expected a port number');
    config.apiPort = r.integer(Number(values.api_port), 'bootos.api_port', 1, 65535);
  }
  if (values.poll_seconds !== undefined) {
    // How often the channel is checked for updates (0: never), ± a tenth of it so that a fleet does not poll in step.
    if (!/^\d{1,6}$/.test(values.poll_seconds)) r.fail('bootos.poll_seconds', 'expected a number of seconds');
    const ms = r.integer(Number(values.poll_seconds), 'bootos.poll_seconds', 0, 7 * 86_400) * 1000;
    config.limits.channelPollIntervalMs = ms;
    config.limits.channelPollJitterMs = Math.floor(ms / 10);
  }
  return config;
}

const FILE_FIELDS = [
  'registry', 'channel', 'profile', 'root', 'dataRoot', 'stateDir', 'storeDir', 'appDataRoot', 'runDir', 'apiHost',
  'apiPort', 'appHost', 'arch', 'runc', 'kioskDir', 'debug', 'limits',
] as const;

/**
 * The JSON file for host runs. Paths are relative to the file's folder. `dataRoot` sets stateDir, storeDir and
 * appDataRoot (its state/, store/ and data/) unless they are given too.
 */
export function configFromJson(value: unknown, where: string, baseDir: string): AgentConfig {
  const r = new Reader('CONFIG_INVALID', where);
  const o = r.object(value, '', FILE_FIELDS);
  const path = (v: unknown, p: string) => resolve(baseDir, r.string(v, p, /^[^\0]+$/, 'expected a path'));
  const dataRoot = r.optional(o, 'dataRoot', '', path) ?? DEVICE_DATA_ROOT;
  const config: AgentConfig = {
    registry: r.required(o, 'registry', '', (v, p) => {
      const text = registryOf(r, v, p, true);
      return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || isAbsolute(text) ? text : resolve(baseDir, text);
    }),
    ...defaults(dataRoot),
  };
  const set = <K extends keyof AgentConfig>(key: K, value: AgentConfig[K] | undefined) => {
    if (value !== undefined) config[key] = value;
  };
  set('channel', r.optional(o, 'channel', '', (v, p) => r.string(v, p, CHANNEL_NAME, 'expected a channel name')));
  set('profile', r.optional(o, 'profile', '', (v, p) => r.string(v, p, PROFILE_NAME, 'expected a profile name')));
  set('rootFile', r.optional(o, 'root', '', path));
  set('stateDir', r.optional(o, 'stateDir', '', path));
  set('storeDir', r.optional(o, 'storeDir', '', path));
  set('dataRoot', r.optional(o, 'appDataRoot', '', path));
  set('runDir', r.optional(o, 'runDir', '', path));
  set('apiHost', r.optional(o, 'apiHost', '', (v, p) => r.string(v, p, /^[0-9a-fA-F.:]+$|^localhost$/, 'expected an IP address')));
  set('apiPort', r.optional(o, 'apiPort', '', (v, p) => r.integer(v, p, 0, 65535)));
  set('appHost', r.optional(o, 'appHost', '', (v, p) => r.string(v, p, /^[0-9a-fA-F.:]+$|^localhost$/, 'expected an IP address')));
  set('arch', r.optional(o, 'arch', '', (v, p) => r.oneOf(v, p, ARCHES)));
  set('runc', r.optional(o, 'runc', '', (v, p) => r.string(v, p, /^[^\0]+$/)));
  set('kioskDir', r.optional(o, 'kioskDir', '', path));
  set('debug', r.optional(o, 'debug', '', (v, p) => r.boolean(v, p)));
  const limits = r.optional(o, 'limits', '', (v, p) => r.object(v, p, Object.keys(DEFAULT_AGENT_LIMITS)));
  if (limits) {
    for (const [key, v] of Object.entries(limits)) {
      (config.limits as unknown as Record<string, number>)[key] = r.integer(v, `limits.${key}`, 0);
    }
  }
  checkLimits(config.limits, r);
  return config;
}

function checkLimits(limits: AgentLimits, r: Reader): void {
  for (const key of ['readyPollMs', 'startTimeoutMs', 'crashLoopCount', 'logLines', 'memoryCheckIntervalMs', 'tmpBytes', 'maxOpenFiles'] as const) {
    if (limits[key] <= 0) r.fail(`limits.${key}`, 'must be a positive integer');
  }
  if (limits.channelRetryMinMs <= 0 || limits.channelRetryMaxMs < limits.channelRetryMinMs) {
    r.fail('limits.channelRetryMaxMs', 'must be at least channelRetryMinMs, which must be positive');
  }
  if (limits.crashBackoffMaxMs < limits.crashBackoffMinMs) r.fail('limits.crashBackoffMaxMs', 'must be at least crashBackoffMinMs');
  if (limits.channelPollIntervalMs > 0 && limits.channelPollJitterMs >= limits.channelPollIntervalMs) {
    r.fail('limits.channelPollJitterMs', 'must be less than channelPollIntervalMs');
  }
  if (limits.updateStartTimeoutMs <= 0) r.fail('limits.updateStartTimeoutMs', 'must be a positive integer');
}

export async function loadConfigFile(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('FILE_NOT_FOUND', `agent config file not found: ${file}`);
    throw err;
  }
  return configFromJson(parseJson(text, file), file, resolve(file, '..'));
}

export async function loadCmdline(file = '/proc/cmdline'): Promise<AgentConfig> {
  return configFromCmdline(await readFile(file, 'utf8'));
}
