// The agent's configuration: from the kernel command line on the device (`bootos.*` keys), or from a JSON file for
// host runs. Everything is checked here, at the boundary; every limit (the agent's and those it hands to Store, Trust,
// the source and the watcher) is a field of `limits`, the one table in fetcher/src/core/limits.ts.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { ARCHES, hostArch } from '../../../fetcher/src/core/arch.js';
import { didYouMean } from '../../../fetcher/src/core/did-you-mean.js';
import { BootosError, errnoCode } from '../../../fetcher/src/core/error.js';
import { Reader, parseJson } from '../../../fetcher/src/core/guard.js';
import { parseRegistryLocation } from '../../../fetcher/src/formats/registry-url.js';
import { LIMIT_NAMES, withLimits, type Limits } from '../../../fetcher/src/core/limits.js';
import { CHANNEL_NAME } from '../../../fetcher/src/formats/trust-docs.js';
import { DEFAULT_INIT_BINARY } from './runtime/runc.js';

/** The agent's limits are the one table of every limit (fetcher/src/core/limits.ts): the agent's own and those of the
 * Store, Trust and the registry source that it builds. */
export type AgentLimits = Limits;

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
  /** The static tini bound as PID 1 into images that ask for an init (`init` in the JSON file). */
  initBinary: string;
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
    initBinary: DEFAULT_INIT_BINARY,
    kioskDir: defaultKioskDir(),
    debug: false,
    limits: withLimits(),
  };
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Kernel command line keys (docs/pxe.md lists them). An unknown `bootos.*` key is an error: a typo must not pass silently. */
const CMDLINE_KEYS = ['registry', 'channel', 'profile', 'debug', 'api_port', 'poll_seconds'] as const;
/** `bootos.limit.NAME=INTEGER` sets one limit (any name of fetcher/src/core/limits.ts, e.g. maxUnpackedBytes). */
const CMDLINE_LIMIT = 'limit.';
/** Keys that /init reads (bootos/os/files/init), not the agent: accepted and left alone here. */
const INIT_CMDLINE_KEYS: readonly string[] = ['data_wait'];

/** A registry location by the one grammar of formats/registry-url.ts; directories only in a host's JSON config. */
function registryOf(r: Reader, value: unknown, path: string, directories: boolean, baseDir = '.'): string {
  const text = r.string(value, path);
  try {
    parseRegistryLocation(text, { directories, isDirectory: (dir) => statSync(resolve(baseDir, dir), { throwIfNoEntry: false })?.isDirectory() === true });
  } catch (err) {
    r.fail(path, (err as Error).message);
  }
  return text;
}

/** Parses /proc/cmdline text. Only `bootos.*` words are read; everything else belongs to the kernel and init. */
export function configFromCmdline(text: string, overrides: { dataRoot?: string } = {}): AgentConfig {
  const r = new Reader('CONFIG_INVALID', 'kernel command line');
  const values: Record<string, string> = {};
  const limits: Partial<Limits> = {};
  for (const word of text.trim().split(/\s+/)) {
    if (!word.startsWith('bootos.')) continue;
    const eq = word.indexOf('=');
    const key = (eq < 0 ? word : word.slice(0, eq)).slice('bootos.'.length);
    if (INIT_CMDLINE_KEYS.includes(key)) continue;
    if (key.startsWith(CMDLINE_LIMIT)) {
      const name = key.slice(CMDLINE_LIMIT.length);
      if (!(LIMIT_NAMES as string[]).includes(name)) r.fail(`bootos.${key}`, `unknown limit${didYouMean(name, LIMIT_NAMES, (k) => `bootos.limit.${k}`)} (known: ${LIMIT_NAMES.join(', ')})`);
      if (name in limits) r.fail(`bootos.${key}`, 'given twice');
      const text = eq < 0 ? '' : word.slice(eq + 1);
      if (!/^\d{1,16}$/.test(text)) r.fail(`bootos.${key}`, 'expected a non-negative integer');
      limits[name as keyof Limits] = Number(text);
      continue;
    }
    if (!(CMDLINE_KEYS as readonly string[]).includes(key)) r.fail(`bootos.${key}`, `unknown key${didYouMean(key, CMDLINE_KEYS, (k) => `bootos.${k}`)} (known: ${[...CMDLINE_KEYS, `${CMDLINE_LIMIT}NAME`].map((k) => `bootos.${k}`).join(', ')})`);
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
  config.limits = withLimits({ ...config.limits, ...limits }, (field, message) => r.fail(`bootos.limit.${field}`, message));
  return config;
}

const FILE_FIELDS = [
  'registry', 'channel', 'profile', 'root', 'dataRoot', 'stateDir', 'storeDir', 'appDataRoot', 'runDir', 'apiHost',
  'apiPort', 'appHost', 'arch', 'runc', 'init', 'kioskDir', 'debug', 'limits',
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
      const text = registryOf(r, v, p, true, baseDir);
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
  set('initBinary', r.optional(o, 'init', '', path));
  set('kioskDir', r.optional(o, 'kioskDir', '', path));
  set('debug', r.optional(o, 'debug', '', (v, p) => r.boolean(v, p)));
  const limits: Partial<Limits> = {};
  const given = r.optional(o, 'limits', '', (v, p) => r.object(v, p, LIMIT_NAMES));
  for (const [key, v] of Object.entries(given ?? {})) limits[key as keyof Limits] = r.integer(v, `limits.${key}`, 0);
  config.limits = withLimits(limits, (field, message) => r.fail(`limits.${field}`, message));
  return config;
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
