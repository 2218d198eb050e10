// The agent's configuration: from the kernel command line on the device (`bootos.*` keys), or from a JSON file for
// host runs. Everything is checked here, at the boundary; every limit (the agent's and those it hands to Store, Trust,
// the source and the watcher) is a field of `limits`, the one table in fetcher/src/core/limits.ts.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ARCHES, hostArch } from '../../../fetcher/src/core/arch.js';
import { didYouMean } from '../../../fetcher/src/core/did-you-mean.js';
import { BootosError, errnoCode } from '../../../fetcher/src/core/error.js';
import { Reader, parseJson } from '../../../fetcher/src/core/guard.js';
import { parseRegistryLocation } from '../../../fetcher/src/formats/registry-url.js';
import { LIMIT_NAMES, withLimits, type Limits } from '../../../fetcher/src/core/limits.js';
import { CHANNEL_NAME } from '../../../fetcher/src/formats/trust-docs.js';
import { SLOTS, type Slot } from '../../../fetcher/src/formats/boot-entry.js';
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
  /**
   * Where an image's public port is opened on this machine instead (public port → port), for a device reached
   * through port forwards that cannot keep the images' ports (the demo's QEMU on a host where 8081 is taken). The
   * agent listens on the mapped port, so /api/apps, the kiosk's links and the forward all say the same port.
   */
  portMap: Record<number, number>;
  /** x86_64 | aarch64 */
  arch: string;
  runc: string;
  /** The static tini bound as PID 1 into images that ask for an init (`init` in the JSON file). */
  initBinary: string;
  /** The kiosk's static files (index.html …), served at `/`. */
  kioskDir: string;
  debug: boolean;
  /** The OS slot of the disk this boot came from (`bootos.slot=`); null: PXE, a direct kernel boot, a host run. */
  bootSlot: Slot | null;
  /**
   * The EFI system partition whose slots the OS updater writes (docs/os-updates.md). On the device: <runDir>/esp,
   * where the agent mounts the partition labelled BOOTOS-EFI; null: no OS updates.
   */
  espDir: string | null;
  /** PEM bundle of the CA(s) that sign an https:// or oci:// registry's certificate; null: Node's bundled list. */
  registryCa: string | null;
  /**
   * `identity`: the registry client presents the device identity's certificate (mutual TLS,
   * bootos/src/agent/identity/certificate.ts); `none`: no client certificate.
   */
  registryClientCert: 'none' | 'identity';
  limits: AgentLimits;
}

export const DEVICE_DATA_ROOT = '/var/lib/bootos';


export function defaultKioskDir(): string {
  // Beside the bundle: dist/kiosk/ on a host build, /usr/lib/bootos/kiosk/ on the device. Should this code ever land
  // in one of the device bundle's chunks (agent-chunks/), the kiosk is still beside agent.mjs, one folder up.
  const here = import.meta.url;
  return new URL(/\/agent-chunks\/[^/]+$/.test(here) ? '../kiosk/' : './kiosk/', here).pathname;
}

/**
 * Where the agent writes and whom it answers. The device (kernel command line) keeps its data on the data partition
 * at /var/lib/bootos, runtime state on the tmpfs /run/bootos, and answers the LAN (0.0.0.0). A host run
 * (`--config FILE`) answers loopback only and writes everything under one folder beside the file,
 * `<folder>/<name>-data/` (agent.json → agent-data/): a try-out never writes to /var/lib or /run, two configs in one
 * folder do not share a store, and removing that folder removes all of it. (Not $XDG_STATE_HOME: the agent runs as
 * root, whose XDG variables are rarely set, and a folder one can see beside the file is easier to find and clean.)
 */
interface Placement {
  /** Holds state/, store/ and data/ unless stateDir, storeDir or appDataRoot say otherwise. */
  dataRoot: string;
  runDir: string;
  /** apiHost and appHost. */
  listenHost: string;
}

const DEVICE_PLACEMENT: Placement = { dataRoot: DEVICE_DATA_ROOT, runDir: '/run/bootos', listenHost: '0.0.0.0' };

/** The folder a host run writes under, for a config file named `file` in `baseDir`: `<baseDir>/<name>-data`. */
export function hostDataRoot(file: string, baseDir: string): string {
  return join(baseDir, `${basename(file).replace(/\.json$/i, '')}-data`);
}

function defaults(place: Placement): Omit<AgentConfig, 'registry'> {
  return {
    channel: 'stable',
    profile: 'office',
    rootFile: '/etc/bootos/root.json',
    stateDir: join(place.dataRoot, 'state'),
    storeDir: join(place.dataRoot, 'store'),
    dataRoot: join(place.dataRoot, 'data'),
    runDir: place.runDir,
    apiHost: place.listenHost,
    apiPort: 8080,
    appHost: place.listenHost,
    portMap: {},
    arch: hostArch(),
    runc: 'runc',
    initBinary: DEFAULT_INIT_BINARY,
    kioskDir: defaultKioskDir(),
    debug: false,
    bootSlot: null,
    espDir: null,
    registryCa: null,
    registryClientCert: 'none',
    limits: withLimits(),
  };
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Kernel command line keys (docs/pxe.md lists them). An unknown `bootos.*` key is an error: a typo must not pass silently. */
const CMDLINE_KEYS = ['registry', 'channel', 'profile', 'debug', 'api_port', 'poll_seconds', 'port_map', 'slot', 'registry_client_cert'] as const;
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

/**
 * `8081:9081,8083:9083` (the kernel command line) or `{"8081": 9081}` (agent.json) → {8081: 9081, 8083: 9083}. No
 * two public ports may map to one port: the second app would silently get a free port instead.
 */
function portMapOf(r: Reader, value: unknown, path: string): Record<number, number> {
  const pairs: [string, unknown][] =
    typeof value === 'string'
      ? value.split(',').map((pair) => {
          const m = /^(\d{1,5}):(\d{1,5})$/.exec(pair);
          if (!m) r.fail(path, `expected PUBLIC:PORT pairs separated by commas (8081:9081,8082:9082), got ${JSON.stringify(pair)}`);
          return [m[1]!, Number(m[2])];
        })
      : Object.entries(r.object(value, path));
  const map: Record<number, number> = {};
  const used = new Set<number>();
  for (const [from, to] of pairs) {
    if (!/^\d{1,5}$/.test(from)) r.fail(`${path}.${from}`, 'expected a public port number as the key');
    const publicPort = r.integer(Number(from), `${path}.${from}`, 1, 65535);
    const port = r.integer(to, `${path}.${from}`, 1, 65535);
    if (publicPort in map) r.fail(`${path}.${from}`, 'given twice');
    if (used.has(port)) r.fail(`${path}.${from}`, `port ${port} is already the port of another public port`);
    map[publicPort] = port;
    used.add(port);
  }
  return map;
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
    ...defaults({ ...DEVICE_PLACEMENT, dataRoot: overrides.dataRoot ?? DEVICE_DATA_ROOT }),
  };
  if (values.channel !== undefined) config.channel = r.string(values.channel, 'bootos.channel', CHANNEL_NAME, 'expected a channel name');
  if (values.profile !== undefined) config.profile = r.string(values.profile, 'bootos.profile', PROFILE_NAME, 'expected a profile name');
  if (values.debug !== undefined) config.debug = r.oneOf(values.debug, 'bootos.debug', ['0', '1'] as const) === '1';
  if (values.api_port !== undefined) {
    if (!/^\d{1,5}$/.test(values.api_port)) r.fail('bootos.api_port', 'expected a port number');
    config.apiPort = r.integer(Number(values.api_port), 'bootos.api_port', 1, 65535);
  }
  if (values.port_map !== undefined) config.portMap = portMapOf(r, values.port_map, 'bootos.port_map');
  if (values.registry_client_cert !== undefined) config.registryClientCert = r.oneOf(values.registry_client_cert, 'bootos.registry_client_cert', ['none', 'identity'] as const);
  if (values.slot !== undefined) {
    // Written into each slot's loader entry (fetcher/src/formats/boot-entry.ts): this boot came from the disk.
    config.bootSlot = r.oneOf(values.slot, 'bootos.slot', SLOTS);
    config.espDir = join(config.runDir, 'esp');
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

/**
 * The fields of agent.json, each with its type and meaning and its default on a host (`--config`) and on the device
 * (what the kernel command line gives; only some fields have a `bootos.*` key). docs/api.md's table is made from this
 * (scripts/config-doc.ts) and tests/unit/docs.test.ts checks the defaults against what the readers produce.
 * In defaults: <folder> is the config file's folder, <name> its name without .json; `(…)` describes a computed value.
 */
export const CONFIG_FILE_FIELDS = {
  registry: { type: 'registry location', meaning: 'where the channel and images come from: `oci://HOST/NAMESPACE`, `oci+http://…`, `http(s)://…`, or (host only) a directory', host: '(required)', device: '(required: `bootos.registry=`)' },
  channel: { type: 'channel name', meaning: 'the signed channel followed (`channels/NAME.json`)', host: 'stable', device: 'stable (`bootos.channel=`)' },
  profile: { type: 'profile name', meaning: "the channel's profile whose apps this machine runs", host: 'office', device: 'office (`bootos.profile=`)' },
  root: { type: 'path', meaning: 'the trusted root.json (`bootos root init` writes one; the device has it baked in)', host: '/etc/bootos/root.json', device: '/etc/bootos/root.json' },
  dataRoot: { type: 'path', meaning: 'the folder of stateDir, storeDir and appDataRoot (its state/, store/, data/), and of runDir (run/) on a host', host: '<folder>/<name>-data', device: '/var/lib/bootos' },
  stateDir: { type: 'path', meaning: 'trust state: the newest root and the channel versions seen (rollback protection)', host: '<dataRoot>/state', device: '/var/lib/bootos/state' },
  storeDir: { type: 'path', meaning: 'the content-addressed store of pulled images', host: '<dataRoot>/store', device: '/var/lib/bootos/store' },
  appDataRoot: { type: 'path', meaning: "apps' `/data`: `<appDataRoot>/<app>`", host: '<dataRoot>/data', device: '/var/lib/bootos/data' },
  runDir: { type: 'path', meaning: 'runtime state: runc state, bundles, network slots, the data-pending marker of /init', host: '<dataRoot>/run', device: '/run/bootos' },
  apiHost: { type: 'IP address', meaning: 'address of the API and the kiosk', host: '127.0.0.1', device: '0.0.0.0' },
  apiPort: { type: 'port (0: any free one)', meaning: 'port of the API and the kiosk', host: '8080', device: '8080 (`bootos.api_port=`)' },
  appHost: { type: 'IP address', meaning: "address the apps' public ports listen on", host: '127.0.0.1', device: '0.0.0.0' },
  portMap: { type: 'object: public port → port', meaning: "where an image's public port is opened instead (`{\"8081\": 9081}`; `bootos.port_map=8081:9081,8082:9082`): for a device reached through port forwards that cannot keep the images' ports; `/api/apps` reports the port opened", host: '(none)', device: '(none) (`bootos.port_map=`)' },
  arch: { type: 'x86_64 or aarch64', meaning: 'the platform whose image manifests are pulled', host: '(this machine)', device: '(this machine)' },
  runc: { type: 'command', meaning: 'the OCI runtime binary', host: 'runc', device: 'runc' },
  init: { type: 'path', meaning: 'the static tini bound as PID 1 into images that ask for an init', host: DEFAULT_INIT_BINARY, device: DEFAULT_INIT_BINARY },
  kioskDir: { type: 'path', meaning: "the kiosk's files, served at `/`", host: '(dist/kiosk/ beside the agent bundle)', device: '(/usr/lib/bootos/kiosk/, beside the agent bundle)' },
  debug: { type: 'boolean', meaning: 'print start-up timing (`bootos: t+…ms` lines)', host: 'false', device: 'false (`bootos.debug=1`)' },
  bootSlot: { type: 'a or b', meaning: 'the OS slot of the disk this boot came from (docs/os-updates.md); without it the OS is not updated (PXE, a direct kernel boot)', host: '(none)', device: '(none) (`bootos.slot=`, which each slot\'s loader entry carries)' },
  espDir: { type: 'path', meaning: 'the mounted EFI system partition whose two OS slots the OS updater writes (with bootSlot)', host: '(none)', device: '(with bootos.slot=: <runDir>/esp, where the agent mounts the partition labelled BOOTOS-EFI)' },
  registryCa: { type: 'path', meaning: "PEM bundle of the CA(s) that sign the registry's TLS certificate (replaces the bundled list)", host: '(none: the bundled list)', device: '(none: the bundled list)' },
  registryClientCert: { type: 'none or identity', meaning: "`identity`: present the device identity's self-signed certificate (CN = the device id) to the registry, for mutual TLS (docs/security.md)", host: 'none', device: 'none (`bootos.registry_client_cert=identity`)' },
  limits: { type: 'object', meaning: 'any limit of the table below, by name; the poll interval is `channelPollIntervalMs`', host: '(the table below)', device: '(the table below; `bootos.limit.NAME=`, and `bootos.poll_seconds=` sets channelPollIntervalMs with a tenth of it as jitter)' },
} as const satisfies Record<string, { type: string; meaning: string; host: string; device: string }>;

const FILE_FIELDS = Object.keys(CONFIG_FILE_FIELDS) as (keyof typeof CONFIG_FILE_FIELDS)[];

/**
 * The JSON file for host runs (`where`: its name, for messages and the default dataRoot). Paths are relative to the
 * file's folder. `dataRoot` sets stateDir, storeDir, appDataRoot and runDir (its state/, store/, data/ and run/)
 * unless they are given too. Defaults: CONFIG_FILE_FIELDS.
 */
export function configFromJson(value: unknown, where: string, baseDir: string): AgentConfig {
  const r = new Reader('CONFIG_INVALID', where);
  const o = r.object(value, '', FILE_FIELDS);
  const path = (v: unknown, p: string) => resolve(baseDir, r.string(v, p, /^[^\0]+$/, 'expected a path'));
  const dataRoot = r.optional(o, 'dataRoot', '', path) ?? hostDataRoot(where, baseDir);
  const config: AgentConfig = {
    registry: r.required(o, 'registry', '', (v, p) => {
      const text = registryOf(r, v, p, true, baseDir);
      return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || isAbsolute(text) ? text : resolve(baseDir, text);
    }),
    ...defaults({ dataRoot, runDir: join(dataRoot, 'run'), listenHost: '127.0.0.1' }),
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
  set('portMap', r.optional(o, 'portMap', '', (v, p) => portMapOf(r, v, p)));
  set('arch', r.optional(o, 'arch', '', (v, p) => r.oneOf(v, p, ARCHES)));
  set('runc', r.optional(o, 'runc', '', (v, p) => r.string(v, p, /^[^\0]+$/)));
  set('initBinary', r.optional(o, 'init', '', path));
  set('kioskDir', r.optional(o, 'kioskDir', '', path));
  set('debug', r.optional(o, 'debug', '', (v, p) => r.boolean(v, p)));
  set('bootSlot', r.optional(o, 'bootSlot', '', (v, p) => r.oneOf(v, p, SLOTS)));
  set('espDir', r.optional(o, 'espDir', '', path));
  set('registryCa', r.optional(o, 'registryCa', '', path));
  set('registryClientCert', r.optional(o, 'registryClientCert', '', (v, p) => r.oneOf(v, p, ['none', 'identity'] as const)));
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
