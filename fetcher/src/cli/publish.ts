// `bootos publish IMAGE_DIR --registry DIR [--encrypt-to RECIPIENT …]`: pack an image folder into a registry directory.
import { defineCommand, registryDirectory, required, status } from './kit.js';
import { publishImage } from '../publish/publish.js';
import { resolveRecipients } from '../publish/recipients.js';

export const publish = defineCommand({
  name: 'publish',
  summary: 'pack an image folder into the registry (deterministic digests)',
  usage: 'IMAGE_DIR --registry DIR [--encrypt-to ID=KEY|FILE …]',
  options: { registry: { type: 'string' }, 'encrypt-to': { type: 'string', multiple: true }, json: { type: 'boolean' } },
  help: {
    registry: 'registry directory (created if missing)',
    'encrypt-to': 'encrypt every layer to this recipient: ID=BASE64 (its X25519 sealing public key) or a JSON file {id, keys: {seal}}; repeat',
    json: 'print the result as JSON',
  },
  details:
    'Prints the image digest. One manifest per platform of `architecture:` in image.yaml (any: amd64 and arm64 over the same layers). ' +
    'Same folder ⇒ same digest on any machine (mtimes = SOURCE_DATE_EPOCH, default 2024-01-01).\n' +
    'With --encrypt-to, layers are encrypted (AES-256-GCM, a random key per layer sealed to each recipient): the digest is new at every run, ' +
    'the unencrypted digest (printed on stderr) and the config stay reproducible. Add yourself as a recipient (bootos key generate --seal) ' +
    'to re-wrap later without re-uploading: bootos image rewrap.',
  positionals: { min: 1, max: 1 },
  async run(values, [dir]) {
    const registry = registryDirectory(required(values.registry, 'registry'));
    const encryptTo = values['encrypt-to'] ? await resolveRecipients(values['encrypt-to']) : undefined;
    const result = await publishImage(dir!, registry, { onProgress: status, encryptTo });
    if (values.json) console.log(JSON.stringify(result));
    else console.log(result.digest);
    const platforms = result.platforms.map((p) => `${p.architecture}: layers ${p.layers.map((l) => l.size).join(' + ')} bytes`).join('; ');
    status(`published ${result.name} ${result.version}: ${result.digest} (${platforms})`);
    if (result.encrypted) status(`encrypted to ${result.encrypted.recipients.join(', ')}; unencrypted digest ${result.encrypted.plainDigest}`);
  },
});
