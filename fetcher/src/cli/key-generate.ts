// `bootos key generate PREFIX [--seal]`: a new Ed25519 signing key pair, or an X25519 sealing key pair.
import { defineCommand, status } from './kit.js';
import { writeKeyPair } from '../trust/keys.js';
import { writeSealKeyPair } from '../trust/sealed-box.js';

export const keyGenerate = defineCommand({
  name: 'key generate',
  summary: 'create an Ed25519 signing key pair (or, with --seal, an X25519 sealing key pair)',
  usage: 'PREFIX [--seal]',
  details:
    'Writes PREFIX.key (secret, mode 0600) and PREFIX.pub (public), base64 in NaCl raw form. Never overwrites.\n' +
    'With --seal: PREFIX.seal.key (secret, 0600) and PREFIX.seal.pub, base64 of the raw 32 bytes; prints the public key. ' +
    'Publish with --encrypt-to NAME=$(cat PREFIX.seal.pub) to be able to re-wrap (bootos image rewrap --key PREFIX.seal.key).',
  options: { seal: { type: 'boolean' }, json: { type: 'boolean' } },
  help: { seal: 'an X25519 sealing key pair, for encrypted images', json: 'print {keyid, key, pub} as JSON ({seal, key, pub} with --seal)' },
  positionals: { min: 1, max: 1 },
  async run(values, [prefix]) {
    if (values.seal) {
      const pair = await writeSealKeyPair(prefix!);
      const seal = pair.publicKey.toString('base64');
      if (values.json) console.log(JSON.stringify({ seal, key: `${prefix}.seal.key`, pub: `${prefix}.seal.pub` }));
      else console.log(seal);
      status(`wrote ${prefix}.seal.key (keep it secret) and ${prefix}.seal.pub`);
      return;
    }
    const key = await writeKeyPair(prefix!);
    if (values.json) console.log(JSON.stringify({ keyid: key.keyid, key: `${prefix}.key`, pub: `${prefix}.pub` }));
    else console.log(key.keyid);
    status(`wrote ${prefix}.key (keep it secret) and ${prefix}.pub`);
  },
});
