// Who an encrypted image is for: `bootos publish --encrypt-to` and `bootos image rewrap --add` name each recipient
// as ID=BASE64 (its X25519 sealing public key, standard base64 of the 32 raw bytes) or as the path of a JSON file
// {id, keys: {seal}} (a device's enrolment request has that shape). This is the one place that turns those words
// into keys: a GROUP or DEVICE id resolved through the signed devices document goes here too, once it exists.
import { readFile } from 'node:fs/promises';
import { BootosError, errnoCode } from '../core/error.js';
import { Reader, parseJson } from '../core/guard.js';
import { decodeSealPublicKey } from '../trust/sealed-box.js';

export interface Recipient {
  /** Opaque: a device id, or any name the publisher gives (printable ASCII, no `=`). */
  id: string;
  /** X25519 public key, 32 raw bytes. */
  seal: Buffer;
}

const ID = /^[\x21-\x3c\x3e-\x7e]{1,256}$/;

export async function resolveRecipients(specs: string[]): Promise<Recipient[]> {
  const byId = new Map<string, Recipient>();
  for (const spec of specs) {
    const recipient = await resolveOne(spec);
    const seen = byId.get(recipient.id);
    if (seen && !seen.seal.equals(recipient.seal)) throw new BootosError('USAGE', `recipient ${recipient.id} is named twice with different keys`);
    byId.set(recipient.id, recipient);
  }
  return [...byId.values()];
}

async function resolveOne(spec: string): Promise<Recipient> {
  const eq = spec.indexOf('=');
  if (eq > 0 && !spec.slice(0, eq).includes('/')) {
    const id = spec.slice(0, eq);
    if (!ID.test(id)) throw new BootosError('USAGE', `recipient ${spec}: the id must be 1 to 256 printable characters without = or spaces`);
    return { id, seal: decodeSealPublicKey(spec.slice(eq + 1), `recipient ${id}'s key`) };
  }
  let text: string;
  try {
    text = await readFile(spec, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EISDIR') {
      throw new BootosError(
        'USAGE',
        `recipient ${spec} is neither ID=BASE64_KEY nor a JSON file {id, keys: {seal}}` +
          ' (group and device names are looked up in the devices document, which bootos does not sign yet)',
      );
    }
    throw err;
  }
  const r = new Reader('USAGE', `recipient file ${spec}`);
  const o = r.object(parseJson(text, `recipient file ${spec}`), '');
  const id = r.required(o, 'id', '', (v, p) => r.string(v, p, ID, 'expected 1 to 256 printable characters without ='));
  const keys = r.required(o, 'keys', '', (v, p) => r.object(v, p));
  const seal = r.required(keys, 'seal', 'keys', (v, p) => r.string(v, p));
  return { id, seal: decodeSealPublicKey(seal, `${spec}: keys.seal`) };
}
