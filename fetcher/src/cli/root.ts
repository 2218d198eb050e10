// `bootos root init` and `bootos root rotate`: the registry's trust root (root.json).
import { resolve } from 'node:path';
import { defineCommand, registryDirectory, required, status, usageError } from './kit.js';
import { loadPublicKey, loadSecretKey } from '../trust/keys.js';
import { initRoot, rotateRoot } from '../publish/signer.js';
import { parseDuration } from '../formats/trust-docs.js';

const rootOptions = {
  registry: { type: 'string' },
  key: { type: 'string', multiple: true },
  threshold: { type: 'string' },
  'channel-key': { type: 'string', multiple: true },
  'channel-threshold': { type: 'string' },
  'devices-key': { type: 'string', multiple: true },
  'devices-threshold': { type: 'string' },
  sign: { type: 'string', multiple: true },
  expires: { type: 'string' },
} as const;

const rootHelp = {
  registry: 'registry directory (required)',
  key: 'public key of the root role; repeat for several (required)',
  threshold: 'signatures the root role needs (default 1)',
  'channel-key': 'public key of the channel role; repeat (default: the root keys)',
  'channel-threshold': 'signatures a channel needs (default: --threshold)',
  'devices-key': 'public key of the devices role, which signs the devices document; repeat (default: the channel keys)',
  'devices-threshold': 'signatures the devices document needs (default: --channel-threshold)',
  sign: 'secret key to sign with; repeat (required)',
  expires: 'lifetime such as 365d (default 365d)',
};

function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^[1-9]\d*$/.test(text)) throw usageError(`--${flag} must be a positive integer, got ${text}`);
  return Number(text);
}

async function rootRun(values: { [K in keyof typeof rootOptions]?: string | string[] }, rotate: boolean) {
  const registry = registryDirectory(required(values.registry as string | undefined, 'registry'));
  const keys = await Promise.all(required(values.key as string[] | undefined, 'key').map(loadPublicKey));
  const channelKeys = values['channel-key'] ? await Promise.all((values['channel-key'] as string[]).map(loadPublicKey)) : undefined;
  const signers = await Promise.all(required(values.sign as string[] | undefined, 'sign').map(loadSecretKey));
  const devicesKeys = values['devices-key'] ? await Promise.all((values['devices-key'] as string[]).map(loadPublicKey)) : undefined;
  const threshold = positiveInt(values.threshold as string | undefined, 'threshold', 1);
  const channelThreshold = positiveInt(values['channel-threshold'] as string | undefined, 'channel-threshold', threshold);
  const options = {
    registry,
    keys,
    threshold,
    channelKeys,
    channelThreshold,
    devicesKeys,
    devicesThreshold: positiveInt(values['devices-threshold'] as string | undefined, 'devices-threshold', channelThreshold),
    signers,
    expiresMs: parseDuration((values.expires as string | undefined) ?? '365d'),
  };
  const root = rotate ? await rotateRoot(options) : await initRoot(options);
  console.log(resolve(registry, 'root.json'));
  status(`root version ${root.signed.version}: ${root.signed.roles.root.keyids.length} root key(s), threshold ${root.signed.roles.root.threshold}; expires ${root.signed.expires}`);
}

export const rootInit = defineCommand({
  name: 'root init',
  summary: 'create the registry trust root (root.json, version 1)',
  usage: '--registry DIR --key A.pub [--key B.pub …] [--threshold N] --sign A.key [--sign B.key …]',
  options: rootOptions,
  help: rootHelp,
  details: 'Devices bake this root.json into their image (bootos build --root) and trust nothing it does not vouch for.',
  run: (values) => rootRun(values, false),
});

export const rootRotate = defineCommand({
  name: 'root rotate',
  summary: 'replace the root keys (root.json version N+1)',
  usage: '--registry DIR --key NEW.pub … [--threshold N] --sign OLD.key … --sign NEW.key …',
  options: rootOptions,
  help: rootHelp,
  details: 'Devices accept the new root only if it is signed by the threshold of the old root AND of the new root.',
  run: (values) => rootRun(values, true),
});
