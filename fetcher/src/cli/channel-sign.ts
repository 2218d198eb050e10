// `bootos channel sign`: sign a channel pinning the newest published image of every profile app.
import { resolve } from 'node:path';
import { defineCommand, registryDirectory, required, status, usageError } from './kit.js';
import { loadSecretKey } from '../trust/keys.js';
import { loadProfiles } from '../formats/profiles.js';
import { signChannel } from '../publish/signer.js';
import { parseDuration } from '../formats/trust-docs.js';

export const channelSignCmd = defineCommand({
  name: 'channel sign',
  summary: 'sign a channel that pins the newest published image of every profile app',
  usage: '--registry DIR --channel NAME --profiles FILE --sign K.key [--sign …] [--expires 7d] [--os VERSION | --no-os]',
  options: {
    registry: { type: 'string' },
    channel: { type: 'string' },
    profiles: { type: 'string' },
    sign: { type: 'string', multiple: true },
    expires: { type: 'string' },
    os: { type: 'string' },
    'no-os': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  help: {
    registry: 'registry directory (required)',
    channel: 'channel name, e.g. stable (required)',
    profiles: 'profiles file, e.g. images/profiles.yaml (required)',
    sign: 'channel key to sign with; repeat to meet the threshold',
    expires: 'lifetime (default 7d); devices refuse an expired channel',
    os: 'pin this published OS release (default: the newest published one, if any)',
    'no-os': 'pin no OS release (devices keep the OS they run)',
    json: 'print the signed channel as JSON',
  },
  async run(values) {
    const registry = registryDirectory(required(values.registry, 'registry'));
    if (values.os !== undefined && values['no-os']) throw usageError('--os and --no-os exclude each other');
    const channel = await signChannel({
      registry,
      name: required(values.channel, 'channel'),
      profiles: await loadProfiles(required(values.profiles, 'profiles')),
      signers: await Promise.all(required(values.sign, 'sign').map(loadSecretKey)),
      expiresMs: parseDuration(values.expires ?? '7d'),
      os: values['no-os'] ? false : values.os,
    });
    if (values.json) console.log(JSON.stringify(channel));
    else console.log(resolve(registry, 'channels', `${channel.signed.name}.json`));
    status(`channel ${channel.signed.name} version ${channel.signed.version}: ${Object.keys(channel.signed.images).length} image(s)${channel.signed.os ? `, OS release ${channel.signed.os.version}` : ''}, expires ${channel.signed.expires}`);
  },
});
