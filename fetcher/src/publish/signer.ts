// The publisher's half of the chain of trust: writing and signing root.json and channels/NAME.json.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/fs.js';
import { BootosError, errnoCode } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { canonicalBytes } from '../core/canonical-json.js';
import { keyIdOf, signBytes, type SecretKey } from '../trust/keys.js';
import { latestImages } from './layout.js';
import type { Profiles } from '../formats/profiles.js';
import { checkSignatures } from '../trust/trust.js';
import { publishedOsReleases } from './os-publish.js';
import { compareOsVersions, type ChannelOs } from '../formats/os-release.js';
import { CHANNEL_NAME, isoTime, readChannel, readRoot, type Channel, type ChannelImage, type Root, type RootSigned, type SignedDocument } from '../formats/trust-docs.js';

export interface RootOptions {
  registry: string;
  /** Public keys of the root role (and of the channel role unless channelKeys is given). */
  keys: Buffer[];
  threshold: number;
  channelKeys?: Buffer[];
  channelThreshold?: number;
  /** Public keys of the devices role, which signs the devices document (default: the channel role's keys). */
  devicesKeys?: Buffer[];
  /** Default: the channel role's threshold. */
  devicesThreshold?: number;
  /** Keys that sign this root: for a rotation, the threshold of the old root and of the new one. */
  signers: SecretKey[];
  expiresMs: number;
  now?: number;
}

function rootSigned(options: RootOptions, version: number): RootSigned {
  const channelKeys = options.channelKeys ?? options.keys;
  const devicesKeys = options.devicesKeys ?? channelKeys;
  const channelThreshold = options.channelThreshold ?? options.threshold;
  const keys: Record<string, string> = {};
  for (const pub of [...options.keys, ...channelKeys, ...devicesKeys]) keys[keyIdOf(pub)] = pub.toString('base64');
  const role = (list: Buffer[], threshold: number) => {
    const keyids = [...new Set(list.map(keyIdOf))].sort();
    if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > keyids.length) {
      throw new BootosError('USAGE', `threshold must be between 1 and the number of distinct keys (${keyids.length}), got ${threshold}`);
    }
    return { keyids, threshold };
  };
  return {
    type: 'root',
    version,
    expires: isoTime((options.now ?? Date.now()) + options.expiresMs),
    keys,
    roles: {
      root: role(options.keys, options.threshold),
      channel: role(channelKeys, channelThreshold),
      devices: role(devicesKeys, options.devicesThreshold ?? channelThreshold),
    },
  };
}

async function writeRoot(registry: string, root: Root): Promise<void> {
  const text = `${JSON.stringify(root, null, 2)}\n`;
  await writeFileAtomic(join(registry, 'roots', `${root.signed.version}.root.json`), text);
  await writeFileAtomic(join(registry, 'root.json'), text);
}

export async function readRegistryRoot(registry: string): Promise<Root | null> {
  const file = join(registry, 'root.json');
  try {
    return readRoot(parseJson(await readFile(file), file), file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** root init: version 1, signed by its own threshold. */
export async function initRoot(options: RootOptions): Promise<Root> {
  if (await readRegistryRoot(options.registry)) {
    throw new BootosError('USAGE', `${options.registry}/root.json exists; use \`bootos root rotate\` to change keys`);
  }
  const root = sign(rootSigned(options, 1), options.signers);
  checkSignatures(root, root.signed.roles.root, root.signed.keys, 'new root');
  await writeRoot(options.registry, root);
  return root;
}

/** root rotate: version N+1, which devices accept only when signed by the old root's threshold and its own. */
export async function rotateRoot(options: RootOptions): Promise<Root> {
  const previous = await readRegistryRoot(options.registry);
  if (!previous) throw new BootosError('USAGE', `${options.registry} has no root.json; run \`bootos root init\` first`);
  const root = sign(rootSigned(options, previous.signed.version + 1), options.signers);
  checkSignatures(root, previous.signed.roles.root, previous.signed.keys, 'new root (by the previous root keys)');
  checkSignatures(root, root.signed.roles.root, root.signed.keys, 'new root (by its own keys)');
  await writeRoot(options.registry, root);
  return root;
}

export interface ChannelOptions {
  registry: string;
  name: string;
  profiles: Profiles;
  signers: SecretKey[];
  expiresMs: number;
  now?: number;
  /** Pin these digests instead of the newest published version (name → image). */
  pins?: Record<string, ChannelImage>;
  /**
   * The OS release to pin (docs/os-updates.md): a published version, false for none, undefined for the newest
   * published one (none when the registry has no OS release).
   */
  os?: string | false;
}

/** channel sign: pins the newest published version of every image the profiles name, version one higher. */
export async function signChannel(options: ChannelOptions): Promise<Channel> {
  if (!CHANNEL_NAME.test(options.name)) throw new BootosError('USAGE', `invalid channel name ${JSON.stringify(options.name)}: use lowercase letters, digits, . _ -`);
  const root = await readRegistryRoot(options.registry);
  if (!root) throw new BootosError('USAGE', `${options.registry} has no root.json; run \`bootos root init\` first`);
  const published = await latestImages(options.registry);
  const images: Record<string, ChannelImage> = {};
  for (const [profile, apps] of Object.entries(options.profiles)) {
    for (const app of apps) {
      const name = typeof app === 'string' ? app : app.image;
      const pinned = options.pins?.[name];
      const image = pinned ?? published.get(name);
      if (!image) throw new BootosError('PROFILE_UNKNOWN_IMAGE', `profile ${profile} names image ${name}, which is not published in ${options.registry}`);
      images[name] = { digest: image.digest, size: image.size, ...(image.version ? { version: image.version } : {}) };
    }
  }
  const file = join(options.registry, 'channels', `${options.name}.json`);
  let previousVersion = 0;
  let previousOs: string | null = null;
  try {
    const previous = readChannel(parseJson(await readFile(file), file), file).signed;
    previousVersion = previous.version;
    previousOs = previous.os?.version ?? null;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const os = await chooseOs(options);
  // Refuse to publish what devices would refuse: an OS release older than the one this channel pinned before.
  if (os && previousOs !== null && compareOsVersions(os.version, previousOs) < 0) {
    throw new BootosError('ROLLBACK', `channel ${options.name} pinned OS release ${previousOs}; devices refuse the older ${os.version} (publish it under a higher version)`);
  }
  const channel = sign(
    {
      type: 'channel' as const,
      name: options.name,
      version: previousVersion + 1,
      expires: isoTime((options.now ?? Date.now()) + options.expiresMs),
      images,
      profiles: options.profiles,
      ...(os ? { os } : {}),
    },
    options.signers,
  );
  // Refuse to publish what devices would refuse: the signers must meet the root's channel threshold.
  checkSignatures(channel, root.signed.roles.channel, root.signed.keys, `channel ${options.name}`);
  await writeFileAtomic(file, `${JSON.stringify(channel, null, 2)}\n`);
  return channel;
}

async function chooseOs(options: ChannelOptions): Promise<ChannelOs | null> {
  if (options.os === false) return null;
  const releases = await publishedOsReleases(options.registry);
  const release = options.os === undefined ? releases.at(-1) : releases.find((r) => r.version === options.os);
  if (!release) {
    if (options.os === undefined) return null;
    throw new BootosError('USAGE', `OS release ${options.os} is not published in ${options.registry} (published: ${releases.map((r) => r.version).join(', ') || 'none'}; \`bootos os publish\`)`);
  }
  return { version: release.version, images: release.images };
}

/** Signs a document with each key over its canonical JSON. */
export function sign<T>(signed: T, keys: SecretKey[]): SignedDocument<T> {
  const bytes = canonicalBytes(signed);
  return { signed, signatures: keys.map((key) => ({ keyid: key.keyid, sig: signBytes(key, bytes) })) };
}
