// The device's trust state machine. It starts from the root baked into the image, follows signed root rotations,
// and accepts a channel only after every check below. Each step names the attack it stops (The Update Framework,
// "Attacks and weaknesses"); each has a test in tests/trust-attacks.test.ts.
import { sha256Digest } from '../core/digest.js';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalBytes } from '../core/canonical-json.js';
import { writeFileAtomic } from '../core/fs.js';
import { BootosError, errnoCode } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { decodePublicKey, verifyBytes } from './keys.js';
import { withLimits, type Limits } from '../core/limits.js';
import { blobPath, type Descriptor } from '../formats/oci.js';
import { type RegistrySource } from '../source/source.js';
import { OS_VERSION, compareOsVersions } from '../formats/os-release.js';
import { readChannel, readRoot, profileApps, type Channel, type Role, type Root, type SignatureHolder } from '../formats/trust-docs.js';
import { DEVICES_PATH, readDevices, type DevicesDocument } from '../formats/devices-doc.js';

export interface TrustOptions {
  /** root.json as baked into the image: trusted without question, the start of every chain. */
  initialRoot: Buffer;
  /** Where initialRoot was read from, for messages: the file a user named (default "baked-in root.json"). */
  initialRootName?: string;
  /** Where the newest verified root and the highest versions seen are kept across reboots; none = memory only. */
  stateDir?: string;
  limits?: Partial<Limits>;
  /** Clock, for tests of expiry. */
  now?: () => number;
}

interface PersistedState {
  rootVersion: number;
  channels: Record<string, number>;
  /** Channel name → the highest OS release version (formats/os-release.ts) a verified channel of that name pinned. */
  os: Record<string, string>;
  /** The highest devices document version verified (0: none yet). */
  devices: number;
}

/** Counts distinct keys of `role` whose signature over the canonical bytes of `signed` is valid. */
export function checkSignatures(doc: SignatureHolder, role: Role, keys: Record<string, string>, what: string): void {
  const message = canonicalBytes(doc.signed);
  const valid = new Set<string>();
  let bad = 0;
  let unknown = 0;
  for (const { keyid, sig } of doc.signatures) {
    if (!role.keyids.includes(keyid) || keys[keyid] === undefined) {
      unknown++;
      continue;
    }
    // The same key signing twice counts once: a threshold means that many different keys.
    if (verifyBytes(decodePublicKey(keys[keyid]!), message, sig)) valid.add(keyid);
    else bad++;
  }
  if (valid.size >= role.threshold) return;
  if (bad > 0) throw new BootosError('SIGNATURE_INVALID', `${what}: a signature does not verify (signed bytes altered or signature forged)`);
  if (valid.size === 0 && unknown > 0) throw new BootosError('UNKNOWN_KEY', `${what}: signed only by keys that the trusted root does not list`);
  throw new BootosError('THRESHOLD_NOT_MET', `${what}: ${valid.size} valid signature(s) from distinct keys, ${role.threshold} required`);
}

export class Trust {
  private root!: Root;
  private state: PersistedState = { rootVersion: 0, channels: {}, os: {}, devices: 0 };
  private readonly limits: Limits;
  private readonly now: () => number;

  private constructor(private readonly options: TrustOptions) {
    this.limits = withLimits(options.limits);
    this.now = options.now ?? Date.now;
  }

  static async open(options: TrustOptions): Promise<Trust> {
    const trust = new Trust(options);
    await trust.load();
    return trust;
  }

  get trustedRoot(): Root {
    return this.root;
  }

  lastSeenChannelVersion(name: string): number {
    return this.state.channels[name] ?? 0;
  }

  /** The highest OS release version a verified channel of this name pinned, or null. */
  lastSeenOsVersion(name: string): string | null {
    return this.state.os[name] ?? null;
  }

  private async load(): Promise<void> {
    const name = this.options.initialRootName ?? 'baked-in root.json';
    const baked = readRoot(parseJson(this.options.initialRoot, name), name);
    // A corrupted image is caught here: the baked root must be signed by its own threshold.
    checkSignatures(baked, baked.signed.roles.root, baked.signed.keys, name);
    this.root = baked;
    const dir = this.options.stateDir;
    if (!dir) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const state = await readOptional(join(dir, 'state.json'));
    if (state) {
      const parsed = parseJson(state, join(dir, 'state.json')) as Partial<PersistedState>;
      const os: Record<string, string> = {};
      for (const [channel, version] of Object.entries(parsed.os ?? {})) if (typeof version === 'string' && OS_VERSION.test(version)) os[channel] = version;
      this.state = { rootVersion: Number(parsed.rootVersion) || 0, channels: { ...parsed.channels }, os, devices: Number(parsed.devices) || 0 };
    }
    // The newest root verified before this boot was checked then; it still must be a root signed by itself.
    const saved = await readOptional(join(dir, 'root.json'));
    if (saved) {
      const savedName = `saved root ${join(dir, 'root.json')}`;
      const root = readRoot(parseJson(saved, savedName), savedName);
      checkSignatures(root, root.signed.roles.root, root.signed.keys, savedName);
      if (root.signed.version > this.root.signed.version) this.root = root;
    }
    // Rollback across reboots: never trust a root older than one already seen.
    if (this.root.signed.version < this.state.rootVersion) {
      throw new BootosError('ROLLBACK', `the trusted root is version ${this.root.signed.version} but version ${this.state.rootVersion} was seen before`);
    }
  }

  private async persist(): Promise<void> {
    const dir = this.options.stateDir;
    if (!dir) return;
    await writeFileAtomic(join(dir, 'state.json'), JSON.stringify(this.state, null, 2), 0o600);
  }

  /**
   * Follows root rotations: roots/<N+1>.root.json, <N+2>, … until the registry has no next version.
   * Each new root must be signed by the threshold of the root before it AND by its own threshold.
   */
  async updateRoot(source: RegistrySource): Promise<Root> {
    for (let i = 0; i < this.limits.maxRootRotations; i++) {
      const next = this.root.signed.version + 1;
      const path = `roots/${next}.root.json`;
      // Endless data: the document is read under a fixed cap.
      const bytes = await source.get(path, this.limits.maxRootBytes);
      if (!bytes) break;
      const candidate = readRoot(parseJson(bytes, path), path);
      // Arbitrary key change: the old root's keys must vouch for the new root…
      checkSignatures(candidate, this.root.signed.roles.root, this.root.signed.keys, `${path} (by the previous root's keys)`);
      // …and the new keys must vouch for themselves, so a rotation cannot name keys that cannot sign.
      checkSignatures(candidate, candidate.signed.roles.root, candidate.signed.keys, `${path} (by its own keys)`);
      // Rollback and skipped versions: the file name and the signed version must agree.
      if (candidate.signed.version !== next) {
        throw new BootosError('ROOT_VERSION_GAP', `${path} says version ${candidate.signed.version}, expected ${next}`);
      }
      this.root = candidate;
      this.state.rootVersion = next;
      if (this.options.stateDir) await writeFileAtomic(join(this.options.stateDir, 'root.json'), bytes, 0o600);
      await this.persist();
    }
    // Freeze: an expired root is not trusted, even the newest one.
    if (Date.parse(this.root.signed.expires) <= this.now()) {
      throw new BootosError('EXPIRED', `the trusted root (version ${this.root.signed.version}) expired at ${this.root.signed.expires}`);
    }
    this.state.rootVersion = Math.max(this.state.rootVersion, this.root.signed.version);
    return this.root;
  }

  /** Fetches and verifies channels/NAME.json; updates the root first. */
  async fetchChannel(source: RegistrySource, name: string): Promise<Channel> {
    await this.updateRoot(source);
    const path = `channels/${name}.json`;
    // Endless data: never read more than the cap.
    const bytes = await source.get(path, this.limits.maxChannelBytes);
    if (!bytes) throw new BootosError('NOT_FOUND', `${source.location}: no channel ${name} (${path})`);
    return this.acceptChannel(bytes, name);
  }

  /** The checks on channel bytes, separate from fetching so that the agent can check bytes it polled itself. */
  async acceptChannel(bytes: Buffer, name: string): Promise<Channel> {
    const where = `channel ${name}`;
    if (bytes.length > this.limits.maxChannelBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${where} is larger than the ${this.limits.maxChannelBytes}-byte cap`);
    const channel = readChannel(parseJson(bytes, where), where);
    // Arbitrary software / malicious mirrors: signed by the threshold of channel keys that the root lists.
    checkSignatures(channel, this.root.signed.roles.channel, this.root.signed.keys, where);
    // Mix-and-match: a validly signed document of another channel is not this channel.
    if (channel.signed.name !== name) {
      throw new BootosError('CHANNEL_NAME_MISMATCH', `${where}: the document is signed for channel ${channel.signed.name}`);
    }
    const seen = this.lastSeenChannelVersion(name);
    this.checkFresh(channel.signed, seen, where);
    // Inconsistent channel: every app of every profile must be an image that the channel pins.
    for (const profile of Object.keys(channel.signed.profiles)) {
      for (const app of profileApps(channel.signed, profile)) {
        if (!channel.signed.images[app.image]) {
          throw new BootosError('PROFILE_UNKNOWN_IMAGE', `${where}: profile ${profile} names image ${app.image}, which the channel does not pin`);
        }
      }
    }
    // Rollback of the OS: a newer channel may not pin an older OS release than one a channel of this name pinned
    // before (persisted across reboots): an old, vulnerable kernel is not brought back by re-signing.
    const os = channel.signed.os;
    const seenOs = this.lastSeenOsVersion(name);
    if (os && seenOs !== null && compareOsVersions(os.version, seenOs) < 0) {
      throw new BootosError('ROLLBACK', `${where}: OS release ${os.version} is older than release ${seenOs} seen before`);
    }
    let changed = false;
    if (channel.signed.version > seen) {
      this.state.channels[name] = channel.signed.version;
      changed = true;
    }
    if (os && (seenOs === null || compareOsVersions(os.version, seenOs) > 0)) {
      this.state.os[name] = os.version;
      changed = true;
    }
    if (changed) await this.persist();
    return channel;
  }

  /** The checks every versioned document (a channel, the devices document) passes after its signatures. */
  private checkFresh(signed: { version: number; expires: string }, seen: number, where: string): void {
    // Rollback: the version must not be lower than the highest seen, which persists across reboots.
    if (signed.version < seen) {
      throw new BootosError('ROLLBACK', `${where}: version ${signed.version} is lower than version ${seen} seen before`);
    }
    // Freeze: an expired document could be an attacker replaying an old, once-valid one.
    if (Date.parse(signed.expires) <= this.now()) {
      throw new BootosError('EXPIRED', `${where}: expired at ${signed.expires}`);
    }
  }

  lastSeenDevicesVersion(): number {
    return this.state.devices;
  }

  /**
   * Fetches and verifies the devices document (devices.json); null when the registry has none, or when the trusted
   * root has no devices role (a root made before devices had identities: nothing may sign one). Call it after
   * fetchChannel or updateRoot, which follow the root's rotations.
   */
  async fetchDevices(source: RegistrySource): Promise<DevicesDocument | null> {
    if (!this.root.signed.roles.devices) return null;
    const bytes = await source.get(DEVICES_PATH, this.limits.maxDevicesBytes);
    return bytes ? this.acceptDevices(bytes) : null;
  }

  /** The checks on devices document bytes: the same as a channel's (signatures by its role, rollback, freeze). */
  async acceptDevices(bytes: Buffer): Promise<DevicesDocument> {
    const where = 'the devices document';
    if (bytes.length > this.limits.maxDevicesBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${where} is larger than the ${this.limits.maxDevicesBytes}-byte cap`);
    const doc = readDevices(parseJson(bytes, where), where);
    const role = this.root.signed.roles.devices;
    // A root without a devices role vouches for no devices document: whatever signed it is not a key of that role.
    if (!role) throw new BootosError('UNKNOWN_KEY', `${where}: the trusted root (version ${this.root.signed.version}) has no devices role`);
    // Arbitrary enrolment / malicious mirrors: signed by the threshold of the devices role's keys.
    checkSignatures(doc, role, this.root.signed.keys, where);
    this.checkFresh(doc.signed, this.state.devices, where);
    if (doc.signed.version > this.state.devices) {
      // Kept, so that a device that restarts without its registry still knows whether it is enrolled (savedDevices).
      if (this.options.stateDir) await writeFileAtomic(join(this.options.stateDir, DEVICES_PATH), bytes, 0o600);
      this.state.devices = doc.signed.version;
      await this.persist();
    }
    return doc;
  }

  /**
   * The devices document verified before this start (kept in the state folder), checked again under the trusted
   * root: signatures by its devices role and the version seen. null when there is none or it no longer verifies;
   * its expiry is the caller's to check (an expired document says nothing).
   */
  async savedDevices(): Promise<DevicesDocument | null> {
    const dir = this.options.stateDir;
    const role = this.root.signed.roles.devices;
    if (!dir || !role) return null;
    const bytes = await readOptional(join(dir, DEVICES_PATH));
    if (!bytes) return null;
    try {
      const where = `saved devices document ${join(dir, DEVICES_PATH)}`;
      const doc = readDevices(parseJson(bytes, where), where);
      checkSignatures(doc, role, this.root.signed.keys, where);
      return doc.signed.version === this.state.devices ? doc : null;
    } catch {
      return null;
    }
  }
}

/**
 * Reads a blob named by a trusted descriptor and returns it only if its size and digest match.
 * Endless data: never more than the signed size is read. Mix-and-match: the digest binds the bytes to the signature.
 */
export async function fetchVerifiedBlob(source: RegistrySource, descriptor: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<Buffer> {
  const path = blobPath(descriptor.digest);
  let bytes: Buffer | null;
  try {
    bytes = await source.get(path, descriptor.size);
  } catch (err) {
    if (err instanceof BootosError && err.code === 'DOCUMENT_TOO_LARGE') {
      throw new BootosError('SIZE_MISMATCH', `${what}: ${descriptor.digest} is longer than its signed size ${descriptor.size}`, { cause: err });
    }
    throw err;
  }
  if (!bytes) throw new BootosError('NOT_FOUND', `${what}: blob ${descriptor.digest} is missing from ${source.location}`);
  if (bytes.length !== descriptor.size) {
    throw new BootosError('SIZE_MISMATCH', `${what}: ${descriptor.digest} is ${bytes.length} bytes, signed size is ${descriptor.size}`);
  }
  const actual = sha256Digest(bytes);
  if (actual !== descriptor.digest) throw new BootosError('DIGEST_MISMATCH', `${what}: expected ${descriptor.digest}, got ${actual}`);
  return bytes;
}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}
