// `bootos key generate PREFIX`: a new Ed25519 signing key pair.
import { defineCommand, status } from './kit.js';
import { writeKeyPair } from '../trust/keys.js';

export const keyGenerate = defineCommand({
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
