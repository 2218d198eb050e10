// `bootos verify URL_OR_DIR`: verify a channel and every image it pins, as a device would.
import { defineCommand, registryArgument, required, status } from './kit.js';
import { readFileOrFail } from '../core/fs.js';
import { resolveImage } from '../trust/resolve.js';
import { openSource } from '../source/open-source.js';
import { profileApps } from '../formats/trust-docs.js';
import { Trust } from '../trust/trust.js';

export const verify = defineCommand({
  name: 'verify',
  summary: 'verify a registry channel as a device would',
  usage: '--registry URL_OR_DIR --root ROOT.json --channel NAME [--state DIR] [--profile NAME] [--arch A]',
  options: {
    registry: { type: 'string' },
    root: { type: 'string' },
    channel: { type: 'string' },
    state: { type: 'string' },
    profile: { type: 'string' },
    arch: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    registry: 'the registry: a directory, http(s)://…, oci://HOST/NAMESPACE or oci+http://… (required)',
    root: 'trusted root.json (as baked into a device) (required)',
    channel: 'channel name (required)',
    state: 'directory keeping the newest root and the versions seen (rollback protection across runs)',
    profile: 'check only the images of this profile (default: every image)',
    arch: 'x86_64 or aarch64 (default: this machine)',
    json: 'print the verified channel as JSON',
  },
  details: 'Checks signatures, thresholds, expiry, rollback, size caps, and every image index, manifest and config by digest.\nPrints the channel version; exits 1 with the error code on any failure.',
  positionals: { min: 0, max: 1 },
  async run(values, positionals) {
    const source = openSource(registryArgument('verify', values.registry, positionals, 0).registry);
    try {
      const rootFile = required(values.root, 'root');
      const trust = await Trust.open({ initialRoot: await readFileOrFail(rootFile, 'root file'), initialRootName: `root file ${rootFile}`, stateDir: values.state });
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
    } finally {
      source.close();
    }
  },
});
