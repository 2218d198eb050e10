// `bootos image rewrap NAME --registry DIR (--add RECIPIENT … --key FILE | --remove ID …)`: new recipients for an
// encrypted image without new layers.
import { defineCommand, registryDirectory, required, status } from './kit.js';
import { resolveRecipients } from '../publish/recipients.js';
import { rewrapImage } from '../publish/rewrap.js';
import { loadSealPrivateKey } from '../trust/sealed-box.js';

export const imageRewrap = defineCommand({
  name: 'image rewrap',
  summary: "change an encrypted image's recipients: a new manifest and index, no layer re-uploaded",
  usage: 'NAME --registry DIR [--add ID=KEY|FILE … --key FILE] [--remove ID …] [--json]',
  options: {
    registry: { type: 'string' },
    add: { type: 'string', multiple: true },
    remove: { type: 'string', multiple: true },
    key: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    registry: 'registry directory holding the image (required)',
    add: 'a recipient to add: ID=BASE64 (X25519 sealing public key) or a JSON file {id, keys: {seal}}; repeat',
    remove: 'the id of a recipient to drop; repeat (it can still read these layers: see below)',
    key: 'sealing private key of a current recipient (needed with --add), e.g. the publisher’s PREFIX.seal.key',
    json: 'print {name, version, previousDigest, digest, recipients} as JSON',
  },
  details:
    'Works on the newest version of NAME in the registry; index.json then names the new index, so sign the channel again ' +
    '(bootos channel sign) for devices to see it. Layer blobs are untouched: push copies only the new manifests.\n' +
    'A removed recipient can still decrypt these layers (it may have kept their keys, and the old manifest stays addressable ' +
    'by digest). To keep a revoked device out of new content, publish again: a fresh publish has fresh content keys.',
  positionals: { min: 1, max: 1 },
  async run(values, [name]) {
    const registry = registryDirectory(required(values.registry, 'registry'));
    const add = values.add ? await resolveRecipients(values.add) : [];
    const key = values.key ? await loadSealPrivateKey(values.key) : undefined;
    const result = await rewrapImage(registry, name!, { add, remove: values.remove, key });
    if (values.json) console.log(JSON.stringify(result));
    else console.log(result.digest);
    status(`re-wrapped ${result.name} ${result.version}: ${result.previousDigest} → ${result.digest}; recipients ${result.recipients.join(', ')}; no layer written`);
    if (values.remove?.length) status(`note: ${values.remove.join(', ')} can still read these layers; publish again for fresh keys to keep them out of new content`);
    status('next: bootos channel sign, so that devices get the new index');
  },
});
