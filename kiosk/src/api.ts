// The agent's local API (docs/api.md) as the kiosk sees it. Everything from the network is `unknown` until read
// here field by field; the reader is lenient (unknown fields are ignored, missing ones get a neutral value) so that
// a newer agent never blanks the screen, but it never trusts a type it has not checked.

import { APP_STATES, CHANNEL_STATES, UPDATE_STATES, type AppAction, type AppState, type ChannelState, type UpdateState } from '../../bootos/src/agent/api/states.js';

export type { AppState, ChannelState, UpdateState };
export type Action = AppAction;

export interface ApiError {
  code: string;
  message: string;
  logTail: string[];
}

export interface AppView {
  name: string;
  description: string;
  version: string;
  state: AppState;
  progress: { doneBytes: number; totalBytes: number } | null;
  port: number | null;
  idle: { afterSeconds: number; action: 'stop' | 'freeze'; remainingSeconds: number | null } | null;
  connections: number;
  error: ApiError | null;
  update: { state: UpdateState; pendingVersion: string | null; error: ApiError | null };
}

export interface AppsView {
  device: { profile: string; arch: string };
  channel: {
    name: string;
    version: number | null;
    state: ChannelState;
    error: ApiError | null;
    retryInMs: number | null;
    checkedAt: string | null;
  };
  apps: AppView[];
  /** The OS updater (docs/os-updates.md); null from an agent without one, or before the data root is open. */
  os: OsView | null;
}

export interface OsView {
  bootedFrom: 'disk' | 'other';
  slot: string | null;
  version: string | null;
  available: { version: string } | null;
  download: { version: string; doneBytes: number; totalBytes: number } | null;
  pendingRestart: { version: string; slot: string } | null;
  fallback: { version: string; slot: string } | null;
  error: ApiError | null;
}

export interface DeviceView {
  hostname: string;
  arch: string;
  uptimeSeconds: number | null;
  cpu: { brand: string; cores: number | null };
  memory: { totalBytes: number | null; availableBytes: number | null };
  disks: { mount: string; sizeBytes: number; usedBytes: number }[];
  network: { iface: string; ip4: string; mac: string }[];
  bootos: { version: string };
  /** The device identity; null while the data root is still opening (or from an agent without identities). */
  identity: IdentityView | null;
  /** Why the device has no usable identity (IDENTITY_INVALID), or null. */
  identityError: ApiError | null;
}

export interface IdentityView {
  id: string;
  enrolled: boolean;
  profile: string;
  groups: string[];
  reason: string;
  /** unchecked | ok | absent | no-role | error */
  devicesState: string;
  devicesError: ApiError | null;
  /** The enrolment request as the administrator copies it (JSON text), or '' when there is none. */
  request: string;
}

/** One line of Activity: a `step` event, or an entry of GET /api/activity. */
export interface StepEvent {
  /** Grows by one per step of one agent run; null from an agent that does not number them. */
  seq: number | null;
  /** When it happened, by the agent's clock (ISO 8601); null when not given. */
  at: string | null;
  app: string;
  message: string;
}


type Obj = Record<string, unknown>;

function obj(value: unknown): Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : {};
}
function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}
function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
function count(value: unknown): number {
  const n = num(value);
  return n !== null && n >= 0 ? n : 0;
}
function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
function oneOf<T extends string>(value: unknown, choices: readonly T[], fallback: T): T {
  return typeof value === 'string' && (choices as readonly string[]).includes(value) ? (value as T) : fallback;
}

export function readError(value: unknown): ApiError | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return { code: 'UNKNOWN', message: value, logTail: [] };
  const o = obj(value);
  return {
    code: str(o.code, 'UNKNOWN'),
    message: str(o.message),
    logTail: list(o.logTail).filter((line): line is string => typeof line === 'string'),
  };
}

function readApp(value: unknown): AppView | null {
  const o = obj(value);
  const name = str(o.name);
  if (!name) return null;
  const progress = obj(o.progress);
  const idle = o.idle === null || o.idle === undefined ? null : obj(o.idle);
  const update = obj(o.update);
  const port = num(o.port);
  return {
    name,
    description: str(o.description),
    version: str(o.version),
    // An unknown state from a newer agent is shown as "available" rather than breaking the page.
    state: oneOf(o.state, APP_STATES, 'available'),
    progress: o.progress ? { doneBytes: count(progress.doneBytes), totalBytes: count(progress.totalBytes) } : null,
    port: port !== null && Number.isInteger(port) && port > 0 && port < 65536 ? port : null,
    idle: idle
      ? {
          afterSeconds: count(idle.afterSeconds),
          action: oneOf(idle.action, ['stop', 'freeze'] as const, 'stop'),
          remainingSeconds: num(idle.remainingSeconds),
        }
      : null,
    connections: count(o.connections),
    error: readError(o.error),
    update: {
      state: oneOf(update.state, UPDATE_STATES, 'idle'),
      pendingVersion: typeof update.pendingVersion === 'string' ? update.pendingVersion : null,
      error: readError(update.error),
    },
  };
}

export function readApps(value: unknown): AppsView {
  const o = obj(value);
  const device = obj(o.device);
  const channel = obj(o.channel);
  return {
    device: { profile: str(device.profile), arch: str(device.arch) },
    channel: {
      name: str(channel.name),
      version: num(channel.version),
      state: oneOf(channel.state, CHANNEL_STATES, 'ok'),
      error: readError(channel.error),
      retryInMs: num(channel.retryInMs),
      checkedAt: typeof channel.checkedAt === 'string' ? channel.checkedAt : null,
    },
    apps: list(o.apps).map(readApp).filter((app): app is AppView => app !== null),
    os: readOs(o.os),
  };
}

export function readOs(value: unknown): OsView | null {
  if (value === null || value === undefined) return null;
  const o = obj(value);
  if (o.bootedFrom !== 'disk' && o.bootedFrom !== 'other') return null;
  const release = (v: unknown) => {
    const r = obj(v);
    return typeof r.version === 'string' ? { version: r.version, slot: str(r.slot) } : null;
  };
  const download = obj(o.download);
  const available = obj(o.available);
  return {
    bootedFrom: o.bootedFrom,
    slot: typeof o.slot === 'string' ? o.slot : null,
    version: typeof o.version === 'string' ? o.version : null,
    available: typeof available.version === 'string' ? { version: available.version } : null,
    download: typeof download.version === 'string' ? { version: download.version, doneBytes: count(download.doneBytes), totalBytes: count(download.totalBytes) } : null,
    pendingRestart: release(o.pendingRestart),
    fallback: release(o.fallback),
    error: readError(o.error),
  };
}

export function readDevice(value: unknown): DeviceView {
  const o = obj(value);
  const cpu = obj(o.cpu);
  const memory = obj(o.memory);
  return {
    hostname: str(o.hostname),
    arch: str(o.arch),
    uptimeSeconds: num(o.uptimeSeconds),
    cpu: { brand: str(cpu.brand), cores: num(cpu.cores) },
    memory: { totalBytes: num(memory.totalBytes), availableBytes: num(memory.availableBytes) },
    disks: list(o.disks).map((d) => {
      const disk = obj(d);
      return { mount: str(disk.mount), sizeBytes: count(disk.sizeBytes), usedBytes: count(disk.usedBytes) };
    }),
    network: list(o.network).map((n) => {
      const net = obj(n);
      return { iface: str(net.iface), ip4: str(net.ip4), mac: str(net.mac) };
    }),
    bootos: { version: str(obj(o.bootos).version) },
    identity: readIdentity(o.identity),
    identityError: readError(o.identityError),
  };
}

function readIdentity(value: unknown): IdentityView | null {
  if (value === null || typeof value !== 'object') return null;
  const o = obj(value);
  const devices = obj(o.devices);
  const id = str(o.id);
  if (!id) return null;
  return {
    id,
    enrolled: o.enrolled === true,
    profile: str(o.profile),
    groups: list(o.groups).filter((g): g is string => typeof g === 'string'),
    reason: str(o.reason),
    devicesState: str(devices.state),
    devicesError: readError(devices.error),
    request: o.request && typeof o.request === 'object' ? JSON.stringify(o.request) : '',
  };
}

export function readStep(value: unknown): StepEvent | null {
  const o = obj(value);
  const message = str(o.message);
  const seq = num(o.seq);
  const at = typeof o.at === 'string' && !Number.isNaN(Date.parse(o.at)) ? o.at : null;
  return message ? { seq: seq !== null && Number.isInteger(seq) ? seq : null, at, app: str(o.app), message } : null;
}

/** GET /api/activity: the agent's last steps, oldest first. */
export function readActivity(value: unknown): StepEvent[] {
  return list(obj(value).entries).map(readStep).filter((step): step is StepEvent => step !== null);
}

/** A failed call, with the agent's coded error when it sent one. */
export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(error.message);
  }
}

async function getJson(path: string): Promise<unknown> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) throw new ApiCallError(res.status, readError(obj(body).error) ?? { code: 'HTTP_ERROR', message: `HTTP ${res.status}`, logTail: [] });
  return body;
}

export async function fetchApps(): Promise<AppsView> {
  return readApps(await getJson('/api/apps'));
}

export async function fetchDevice(): Promise<DeviceView> {
  return readDevice(await getJson('/api/device'));
}

export async function fetchActivity(): Promise<StepEvent[]> {
  return readActivity(await getJson('/api/activity'));
}

export async function fetchLogs(name: string): Promise<string[]> {
  return list(obj(await getJson(`/api/apps/${encodeURIComponent(name)}/logs`)).lines).filter(
    (line): line is string => typeof line === 'string',
  );
}

/** POST /api/apps/:name/<action>; resolves once the agent accepted it (the change itself arrives as an event). */
export async function postAction(name: string, action: Action): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`/api/apps/${encodeURIComponent(name)}/${action}`, { method: 'POST', headers: { accept: 'application/json' } });
  } catch (err) {
    throw new ApiCallError(0, { code: 'AGENT_UNREACHABLE', message: String(err), logTail: [] });
  }
  if (res.ok) return;
  const body: unknown = await res.json().catch(() => null);
  throw new ApiCallError(res.status, readError(obj(body).error) ?? { code: 'HTTP_ERROR', message: `HTTP ${res.status}`, logTail: [] });
}

/** POST /api/os/restart: the agent stops the apps and the device restarts into the pending OS release. */
export async function postOsRestart(): Promise<void> {
  let res: Response;
  try {
    res = await fetch('/api/os/restart', { method: 'POST', headers: { accept: 'application/json' } });
  } catch (err) {
    throw new ApiCallError(0, { code: 'AGENT_UNREACHABLE', message: String(err), logTail: [] });
  }
  if (res.ok) return;
  const body: unknown = await res.json().catch(() => null);
  throw new ApiCallError(res.status, readError(obj(body).error) ?? { code: 'HTTP_ERROR', message: `HTTP ${res.status}`, logTail: [] });
}

/** Who this browser is to the device (GET /api/pairing). */
export type PairingView =
  | { role: 'device'; code: string; expiresAt: string; sessions: number }
  | { role: 'paired'; sessionExpiresAt: string }
  | { role: 'visitor' };

export function readPairing(value: unknown): PairingView {
  const o = obj(value);
  if (o.role === 'device') return { role: 'device', code: str(o.code), expiresAt: str(o.expiresAt), sessions: count(o.sessions) };
  if (o.role === 'paired') return { role: 'paired', sessionExpiresAt: str(o.sessionExpiresAt) };
  return { role: 'visitor' };
}

export async function fetchPairing(): Promise<PairingView> {
  const res = await fetch('/api/pairing', { headers: { accept: 'application/json' } });
  if (!res.ok) throw new ApiCallError(res.status, { code: 'HTTP_ERROR', message: `HTTP ${res.status}`, logTail: [] });
  return readPairing(await res.json());
}

/** POST a JSON body; a refusal is an ApiCallError with the agent's code. */
async function postJson(path: string, body: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(path, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (err) {
    throw new ApiCallError(0, { code: 'AGENT_UNREACHABLE', message: String(err), logTail: [] });
  }
  const parsed: unknown = await res.json().catch(() => null);
  if (!res.ok) throw new ApiCallError(res.status, readError(obj(parsed).error) ?? { code: 'HTTP_ERROR', message: `HTTP ${res.status}`, logTail: [] });
  return parsed;
}

/** Sends the device's code; on success the agent has set this browser's session cookie. */
export async function pairWith(code: string): Promise<void> {
  await postJson('/api/pairing', { code });
}

/** Ends every paired session (the device itself only). */
export async function revokePairings(): Promise<number> {
  return count(obj(await postJson('/api/pairing/revoke', {})).ended);
}
