// The fetcher's verbs: key, root, publish, channel, serve, verify.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defineCommand, required, status, usageError, type Command } from './kit.js';
import { BootosError, errnoCode } from '../core/error.js';
import { loadPublicKey, loadSecretKey, writeKeyPair } from '../trust/keys.js';
import { loadProfiles } from '../formats/profiles.js';
import { publishImage } from '../publish/publish.js';
import { resolveImage } from '../trust/resolve.js';
import { startServer } from '../publish/serve.js';
import { initRoot, rotateRoot, signChannel } from '../publish/signer.js';
import { openSource } from '../source/open-source.js';
import { parseDuration, profileApps } from '../formats/trust-docs.js';
import { Trust } from '../trust/trust.js';

export async function readFileOrFail(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('FILE_NOT_FOUND', `${what} not found: ${path}`);
    throw err;
  }
}

const keyGenerate = defineCommand({
  name: 'key generate',
  summary: 'create an Ed25519 signing key pair',
  usage: 'PREFIX',
  details: 'Writes PREFIX.key (secret, mode 0600) and PREFIX.pub (public), base64 in NaCl raw form. Never overwrites.',
  options: { json: { type: 'boolean' } },
  help: { json: 'print {keyid, key, pub} as JSON' },
  positionals: { min: 1, max: 1 },
  async run(values, [prefix]) {
    const key = await writeKeyPair(prefix!);
    if (values.json) console.log(JSON.stringify({ keyid: key.keyid, key: `${prefix}.key`, pub: `${prefix}.pub` }));
    else console.log(key.keyid);
    status(`wrote ${prefix}.key (keep it secret) and ${prefix}.pub`);
  },
});

const rootOptions = {
  registry: { type: 'string' },
  key: { type: 'string', multiple: true },
  threshold: { type: 'string' },
  'channel-key': { type: 'string', multiple: true },
  'channel-threshold': { type: 'string' },
  sign: { type: 'string', multiple: true },
  expires: { type: 'string' },
} as const;

const rootHelp = {
  registry: 'registry directory (required)',
  key: 'public key of the root role; repeat for several (required)',
  threshold: 'signatures the root role needs (default 1)',
  'channel-key': 'public key of the channel role; repeat (default: the root keys)',
  'channel-threshold': 'signatures a channel needs (default: --threshold)',
  sign: 'secret key to sign with; repeat (required)',
  expires: 'lifetime such as 365d (default 365d)',
};

function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^[1-9]\d*$/.test(text)) throw usageError(`--${flag} must be a positive integer, got ${text}`);
  return Number(text);
}

async function rootRun(values: { [K in keyof typeof rootOptions]?: string | string[] }, rotate: boolean) {
  const registry = required(values.registry as string | undefined, 'registry');
  const keys = await Promise.all(required(values.key as string[] | undefined, 'key').map(loadPublicKey));
  const channelKeys = values['channel-key'] ? await Promise.all((values['channel-key'] as string[]).map(loadPublicKey)) : undefined;
  const signers = await Promise.all(required(values.sign as string[] | undefined, 'sign').map(loadSecretKey));
  const threshold = positiveInt(values.threshold as string | undefined, 'threshold', 1);
  const options = {
    registry,
    keys,
    threshold,
    channelKeys,
    channelThreshold: positiveInt(values['channel-threshold'] as string | undefined, 'channel-threshold', threshold),
    signers,
    expiresMs: parseDuration((values.expires as string | undefined) ?? '365d'),
  };
  const root = rotate ? await rotateRoot(options) : await initRoot(options);
  console.log(resolve(registry, 'root.json'));
  status(`root version ${root.signed.version}: ${root.signed.roles.root.keyids.length} root key(s), threshold ${root.signed.roles.root.threshold}; expires ${root.signed.expires}`);
}

const rootInit = defineCommand({
  name: 'root init',
  summary: 'create the registry trust root (root.json, version 1)',
  usage: '--registry DIR --key A.pub [--key B.pub …] [--threshold N] --sign A.key [--sign B.key …]',
  options: rootOptions,
  help: rootHelp,
  details: 'Devices bake this root.json into their image (bootos build --root) and trust nothing it does not vouch for.',
  run: (values) => rootRun(values, false),
});

const rootRotate = defineCommand({
  name: 'root rotate',
  summary: 'replace the root keys (root.json version N+1)',
  usage: '--registry DIR --key NEW.pub … [--threshold N] --sign OLD.key … --sign NEW.key …',
  options: rootOptions,
  help: rootHelp,
  details: 'Devices accept the new root only if it is signed by the threshold of the old root AND of the new root.',
  run: (values) => rootRun(values, true),
});

const publish = defineCommand({
  name: 'publish',
  summary: 'pack an image folder into the registry (deterministic digests)',
  usage: 'IMAGE_DIR --registry DIR',
  options: { registry: { type: 'string' }, json: { type: 'boolean' } },
  help: { registry: 'registry directory (created if missing)', json: 'print the result as JSON' },
  details: 'Prints the image digest. Same folder ⇒ same digest on any machine (mtimes = SOURCE_DATE_EPOCH, default 0).',
  positionals: { min: 1, max: 1 },
  async run(values, [dir]) {
    const result = await publishImage(dir!, required(values.registry, 'registry'), { onProgress: status });
    if (values.json) console.log(JSON.stringify(result));
    else console.log(result.digest);
    status(`published ${result.name} ${result.version}: ${result.digest} (layer ${result.layers[0]!.size} bytes)`);
  },
});

const channelSignCmd = defineCommand({
  name: 'channel sign',
  summary: 'sign a channel that pins the newest published image of every profile app',
  usage: '--registry DIR --channel NAME --profiles FILE --sign K.key [--sign …] [--expires 7d]',
  options: {
    registry: { type: 'string' },
    channel: { type: 'string' },
    profiles: { type: 'string' },
    sign: { type: 'string', multiple: true },
    expires: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    registry: 'registry directory (required)',
    channel: 'channel name, e.g. stable (required)',
    profiles: 'profiles file, e.g. images/profiles.yaml (required)',
    sign: 'channel key to sign with; repeat to meet the threshold',
    expires: 'lifetime (default 7d); devices refuse an expired channel',
    json: 'print the signed channel as JSON',
  },
  async run(values) {
    const registry = required(values.registry, 'registry');
    const channel = await signChannel({
      registry,
      name: required(values.channel, 'channel'),
      profiles: await loadProfiles(required(values.profiles, 'profiles')),
      signers: await Promise.all(required(values.sign, 'sign').map(loadSecretKey)),
      expiresMs: parseDuration(values.expires ?? '7d'),
    });
    if (values.json) console.log(JSON.stringify(channel));
    else console.log(resolve(registry, 'channels', `${channel.signed.name}.json`));
    status(`channel ${channel.signed.name} version ${channel.signed.version}: ${Object.keys(channel.signed.images).length} image(s), expires ${channel.signed.expires}`);
  },
});

const serve = defineCommand({
  name: 'serve',
  summary: 'serve a registry directory over HTTP (static; any web server would do)',
  usage: 'DIR [--host 127.0.0.1] [--port N]',
  options: { host: { type: 'string' }, port: { type: 'string' }, quiet: { type: 'boolean' } },
  help: { host: 'address to listen on (default 127.0.0.1)', port: 'port (default 8080; 0 picks a free one)', quiet: 'no request log' },
  positionals: { min: 1, max: 1 },
  async run(values, [dir]) {
    const port = values.port === undefined ? 8080 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be 0 to 65535, got ${values.port}`);
    const { url, close } = await startServer({ dir: dir!, host: values.host ?? '127.0.0.1', port, log: values.quiet ? () => {} : undefined });
    console.log(url);
    status(`serving ${resolve(dir!)} at ${url} (Ctrl-C to stop)`);
    await new Promise<void>((done) => {
      const stop = () => void close().then(done);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
});

const verify = defineCommand({
  name: 'verify',
  summary: 'verify a registry channel as a device would',
  usage: 'URL_OR_DIR --root ROOT.json --channel NAME [--state DIR] [--profile NAME] [--arch A]',
  options: {
    root: { type: 'string' },
    channel: { type: 'string' },
    state: { type: 'string' },
    profile: { type: 'string' },
    arch: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    root: 'trusted root.json (as baked into a device) (required)',
    channel: 'channel name (required)',
    state: 'directory keeping the newest root and the versions seen (rollback protection across runs)',
    profile: 'check only the images of this profile (default: every image)',
    arch: 'x86_64 or aarch64 (default: this machine)',
    json: 'print the verified channel as JSON',
  },
  details: 'Checks signatures, thresholds, expiry, rollback, size caps, and every image index, manifest and config by digest.\nPrints the channel version; exits 1 with the error code on any failure.',
  positionals: { min: 1, max: 1 },
  async run(values, [location]) {
    const source = openSource(location!);
    const trust = await Trust.open({ initialRoot: await readFileOrFail(required(values.root, 'root'), 'root file'), stateDir: values.state });
    const name = required(values.channel, 'channel');
    const channel = await trust.fetchChannel(source, name);
    const images = values.profile ? profileApps(channel.signed, values.profile).map((a) => a.image) : Object.keys(channel.signed.images);
    for (const image of images) {
      const resolved = await resolveImage(source, channel.signed, image, values.arch);
      status(`ok ${image} ${resolved.config.version} ${resolved.digest}`);
    }
    if (values.json) console.log(JSON.stringify(channel.signed));
    else console.log(channel.signed.version);
    status(`channel ${name} version ${channel.signed.version} verified against root version ${trust.trustedRoot.signed.version} (${images.length} image(s))`);
  },
});

export const fetcherCommands: Command[] = [keyGenerate, rootInit, rootRotate, publish, channelSignCmd, serve, verify] as unknown as Command[];
