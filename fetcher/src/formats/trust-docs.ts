// root.json and channels/NAME.json: types, guards, and signing (publisher side). The devices document: devices-doc.ts.
// Signatures are Ed25519 over the canonical JSON of `signed` (docs/formats.md).
import { ISO_DATE, IMAGE_NAME, Reader, SHA256_DIGEST } from '../core/guard.js';
import { BootosError } from '../core/error.js';
import { readChannelOs, type ChannelOs } from './os-release.js';

export interface Signature {
  keyid: string;
  sig: string;
}

export interface SignedDocument<T> {
  signed: T;
  signatures: Signature[];
}

export interface Role {
  keyids: string[];
  threshold: number;
}

export interface RootSigned {
  type: 'root';
  version: number;
  expires: string;
  /** keyid (hex sha256 of the raw public key) → base64 Ed25519 public key */
  keys: Record<string, string>;
  /**
   * `devices` signs the devices document (formats/devices-doc.ts). A root made before devices had identities has no
   * such role: its channels verify as before, and no devices document is trusted under it.
   */
  roles: { root: Role; channel: Role; devices?: Role };
}

export interface ChannelImage {
  digest: string;
  size: number;
  /** Informational (the kiosk shows it before anything is pulled); the digest is what is trusted. */
  version?: string;
}

export interface ProfileApp {
  image: string;
  /** Pull at start-up instead of at the first connection. */
  prefetch?: boolean;
  /** Overrides the image's idle policy on devices of this profile. */
  idle?: { afterSeconds: number; action: 'stop' | 'freeze' };
  /**
   * The channel's signer allows this image's `network: host` (it shares the device's network stack and reaches
   * every port on it); without it such an image is refused at start (HOST_NETWORK_NOT_ALLOWED).
   */
  hostNetwork?: boolean;
  /**
   * The channel's signer makes this image the device's own screen (the display app): started at boot when the
   * device has a DRM device, given the screen and input devices and the kiosk's privileged channel
   * (docs/security.md, "The display app"). At most one per profile.
   */
  display?: boolean;
}

export interface ChannelSigned {
  type: 'channel';
  name: string;
  version: number;
  expires: string;
  images: Record<string, ChannelImage>;
  /** profile name → its apps: an image name, or an object with per-profile options */
  profiles: Record<string, (string | ProfileApp)[]>;
  /** The OS release devices of this channel run (formats/os-release.ts); absent: the channel does not update the OS. */
  os?: ChannelOs;
}

export type Root = SignedDocument<RootSigned>;
export type Channel = SignedDocument<ChannelSigned>;
export type SignatureHolder = SignedDocument<unknown>;

export const CHANNEL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function readSignatures(r: Reader, value: unknown): Signature[] {
  return r.array(value, 'signatures').map((item, i) => {
    const s = r.object(item, `signatures[${i}]`, ['keyid', 'sig']);
    return {
      keyid: r.required(s, 'keyid', `signatures[${i}]`, (v, p) => r.string(v, p, /^[0-9a-f]{64}$/)),
      sig: r.required(s, 'sig', `signatures[${i}]`, (v, p) => r.string(v, p)),
    };
  });
}

function readRole(r: Reader, value: unknown, path: string, keys: Record<string, string>): Role {
  const o = r.object(value, path, ['keyids', 'threshold']);
  const keyids = r.required(o, 'keyids', path, (v, p) => r.stringArray(v, p));
  for (const id of keyids) if (!(id in keys)) r.fail(`${path}.keyids`, `names a key not in keys: ${id}`);
  if (new Set(keyids).size !== keyids.length) r.fail(`${path}.keyids`, 'lists a key twice');
  const threshold = r.required(o, 'threshold', path, (v, p) => r.integer(v, p, 1));
  if (threshold > keyids.length) r.fail(`${path}.threshold`, `${threshold} is more than the ${keyids.length} keys listed`);
  return { keyids, threshold };
}

/** Checks the shape of a root document; signatures are checked by trust.ts. */
export function readRoot(value: unknown, where = 'root.json'): Root {
  const r = new Reader('DOCUMENT_TYPE', where);
  const o = r.object(value, '', ['signed', 'signatures']);
  const s = r.required(o, 'signed', '', (v, p) => r.object(v, p, ['type', 'version', 'expires', 'keys', 'roles']));
  if (s.type !== 'root') r.fail('signed.type', `expected "root", got ${JSON.stringify(s.type)}`);
  const keysObject = r.required(s, 'keys', 'signed', (v, p) => r.object(v, p));
  const keys: Record<string, string> = {};
  for (const [id, pub] of Object.entries(keysObject)) keys[id] = r.string(pub, `signed.keys.${id}`);
  const roles = r.required(s, 'roles', 'signed', (v, p) => r.object(v, p, ['root', 'channel', 'devices']));
  const devices = r.optional(roles, 'devices', 'signed.roles', (v, p) => readRole(r, v, p, keys));
  return {
    signed: {
      type: 'root',
      version: r.required(s, 'version', 'signed', (v, p) => r.integer(v, p, 1)),
      expires: r.required(s, 'expires', 'signed', (v, p) => r.string(v, p, ISO_DATE, 'expected an ISO 8601 UTC time')),
      keys,
      roles: {
        root: r.required(roles, 'root', 'signed.roles', (v, p) => readRole(r, v, p, keys)),
        channel: r.required(roles, 'channel', 'signed.roles', (v, p) => readRole(r, v, p, keys)),
        ...(devices ? { devices } : {}),
      },
    },
    signatures: r.required(o, 'signatures', '', (v) => readSignatures(r, v)),
  };
}

function readProfileApp(r: Reader, value: unknown, path: string): string | ProfileApp {
  if (typeof value === 'string') return r.string(value, path, IMAGE_NAME);
  const o = r.object(value, path, ['image', 'prefetch', 'idle', 'hostNetwork', 'display']);
  const app: ProfileApp = { image: r.required(o, 'image', path, (v, p) => r.string(v, p, IMAGE_NAME)) };
  const prefetch = r.optional(o, 'prefetch', path, (v, p) => r.boolean(v, p));
  if (prefetch !== undefined) app.prefetch = prefetch;
  const hostNetwork = r.optional(o, 'hostNetwork', path, (v, p) => r.boolean(v, p));
  if (hostNetwork !== undefined) app.hostNetwork = hostNetwork;
  const display = r.optional(o, 'display', path, (v, p) => r.boolean(v, p));
  if (display !== undefined) app.display = display;
  const idle = r.optional(o, 'idle', path, (v, p) => r.object(v, p, ['afterSeconds', 'action']));
  if (idle) {
    app.idle = {
      afterSeconds: r.required(idle, 'afterSeconds', `${path}.idle`, (v, p) => r.integer(v, p, 0)),
      action: r.required(idle, 'action', `${path}.idle`, (v, p) => r.oneOf(v, p, ['stop', 'freeze'] as const)),
    };
  }
  return app;
}

export function readChannel(value: unknown, where = 'channel'): Channel {
  const r = new Reader('DOCUMENT_TYPE', where);
  const o = r.object(value, '', ['signed', 'signatures']);
  const s = r.required(o, 'signed', '', (v, p) => r.object(v, p, ['type', 'name', 'version', 'expires', 'images', 'profiles', 'os']));
  if (s.type !== 'channel') r.fail('signed.type', `expected "channel", got ${JSON.stringify(s.type)}`);
  const imagesObject = r.required(s, 'images', 'signed', (v, p) => r.object(v, p));
  const images: Record<string, ChannelImage> = {};
  for (const [name, item] of Object.entries(imagesObject)) {
    const path = `signed.images.${name}`;
    if (!IMAGE_NAME.test(name)) r.fail(path, 'not a valid image name');
    const i = r.object(item, path, ['digest', 'size', 'version']);
    images[name] = {
      digest: r.required(i, 'digest', path, (v, p) => r.string(v, p, SHA256_DIGEST, 'expected sha256:<64 hex>')),
      size: r.required(i, 'size', path, (v, p) => r.integer(v, p, 1)),
    };
    const version = r.optional(i, 'version', path, (v, p) => r.string(v, p));
    if (version !== undefined) images[name].version = version;
  }
  const profilesObject = r.required(s, 'profiles', 'signed', (v, p) => r.object(v, p));
  const profiles: Record<string, (string | ProfileApp)[]> = {};
  for (const [name, list] of Object.entries(profilesObject)) {
    profiles[name] = r.array(list, `signed.profiles.${name}`).map((item, i) => readProfileApp(r, item, `signed.profiles.${name}[${i}]`));
    checkOneDisplay(r, profiles[name]!, `signed.profiles.${name}`);
  }
  const os = r.optional(s, 'os', 'signed', (v, p) => readChannelOs(r, v, p));
  return {
    signed: {
      type: 'channel',
      name: r.required(s, 'name', 'signed', (v, p) => r.string(v, p, CHANNEL_NAME)),
      version: r.required(s, 'version', 'signed', (v, p) => r.integer(v, p, 1)),
      expires: r.required(s, 'expires', 'signed', (v, p) => r.string(v, p, ISO_DATE, 'expected an ISO 8601 UTC time')),
      images,
      profiles,
      ...(os ? { os } : {}),
    },
    signatures: r.required(o, 'signatures', '', (v) => readSignatures(r, v)),
  };
}

/** A profile has at most one display app: the device has one screen. */
export function checkOneDisplay(r: Reader, apps: readonly (string | ProfileApp)[], path: string): void {
  const displays = apps.flatMap((a, i) => (typeof a !== 'string' && a.display ? [i] : []));
  if (displays.length > 1) r.fail(`${path}[${displays[1]}]`, `a profile has one display app, and ${path}[${displays[0]}] is already one`);
}

/** The display app of a profile (the device's own screen), or null when the profile names none. */
export function profileDisplay(channel: ChannelSigned, profile: string): ProfileApp | null {
  return profileApps(channel, profile).find((a) => a.display) ?? null;
}

export function profileApps(channel: ChannelSigned, profile: string): ProfileApp[] {
  const list = channel.profiles[profile];
  if (!list) {
    throw new BootosError('PROFILE_UNKNOWN', `channel ${channel.name} has no profile ${profile} (it has: ${Object.keys(channel.profiles).join(', ') || 'none'})`);
  }
  return list.map((app) => (typeof app === 'string' ? { image: app } : app));
}

/** "7d", "12h", "30m", "3600s" → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!match) throw new BootosError('USAGE', `expected a duration such as 7d, 12h, 30m or 90s, got ${JSON.stringify(text)}`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** ISO 8601 UTC with whole seconds, as the documents carry it. */
export function isoTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
