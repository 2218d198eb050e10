// Re-wrapping an encrypted image: the same ciphertext layers with a new recipient list. Kept recipients keep their
// sealed keys as they are; added ones get each layer's content key, opened with the key of a current recipient
// (`key`: the publisher keeps one, e.g. --encrypt-to publisher=…); removed ones are dropped. Only new manifests and a
// new index are written — no layer blob — and index.json names the new index for the same name and version, so the
// next `bootos channel sign` pins it.
// A removed recipient can still read these layers: it may have kept their keys, and the old manifest stays
// addressable by its digest. Only a new publish (fresh content keys) is out of its reach (docs/security.md).
import type { KeyObject } from 'node:crypto';
import { BootosError } from '../core/error.js';
import { ENC_KEYS_ANNOTATION, LAYER_CIPHER, isEncryptedMediaType, readLayerKeys, writeLayerKeys } from '../formats/layer-encryption.js';
import type { Descriptor } from '../formats/oci.js';
import { openSealed, rawPublicKey } from '../trust/sealed-box.js';
import { sealContentKey } from './encrypt-layers.js';
import { addToIndex, latestImages } from './layout.js';
import type { Recipient } from './recipients.js';
import { rewriteImage } from './rewrite-image.js';

export interface RewrapOptions {
  add?: Recipient[];
  /** Recipient ids to drop. */
  remove?: string[];
  /** A current recipient's sealing private key (needed to add recipients). */
  key?: KeyObject;
}

export interface RewrapResult {
  name: string;
  version: string;
  previousDigest: string;
  digest: string;
  size: number;
  /** The recipients of the first layer, after the change. */
  recipients: string[];
}

export async function rewrapImage(registryDir: string, name: string, options: RewrapOptions): Promise<RewrapResult> {
  const add = options.add ?? [];
  const remove = new Set(options.remove ?? []);
  if (add.length === 0 && remove.size === 0) throw new BootosError('USAGE', 'nothing to change: give --add and/or --remove');
  if (add.length > 0 && !options.key) throw new BootosError('USAGE', "--add needs --key: the sealing private key of a current recipient, to open the layers' content keys");
  const published = (await latestImages(registryDir)).get(name);
  if (!published) throw new BootosError('USAGE', `${registryDir} has no image named ${name}`);
  const own = options.key ? rawPublicKey(options.key).toString('base64') : null;
  const unused = new Set(remove);
  let recipients: string[] = [];
  const rewrap = async (layer: Descriptor): Promise<Descriptor> => {
    if (!isEncryptedMediaType(layer.mediaType)) throw new BootosError('USAGE', `${name}: layer ${layer.digest} is not encrypted (publish it with --encrypt-to)`);
    const keys = readLayerKeys(layer.annotations, `${name}: layer ${layer.digest}`);
    for (const r of keys.recipients) unused.delete(r.id);
    const kept = keys.recipients.filter((r) => !remove.has(r.id) && !add.some((a) => a.id === r.id));
    let added: ReturnType<typeof sealContentKey> = [];
    if (add.length > 0) {
      const mine = keys.recipients.find((r) => r.seal === own);
      const contentKey = mine && openSealed({ epk: Buffer.from(mine.epk, 'base64'), box: Buffer.from(mine.box, 'base64') }, options.key!);
      if (!contentKey) throw new BootosError('IMAGE_NOT_RECIPIENT', `${name}: --key is not a recipient of layer ${layer.digest}; give the key of one of ${keys.recipients.map((r) => r.id).join(', ')}`);
      added = sealContentKey(contentKey, add);
    }
    const next = [...kept, ...added];
    if (next.length === 0) throw new BootosError('USAGE', `${name}: no recipient would be left; publish it unencrypted instead`);
    recipients = next.map((r) => r.id);
    return { ...layer, annotations: { ...layer.annotations, [ENC_KEYS_ANNOTATION]: writeLayerKeys({ cipher: LAYER_CIPHER, recipients: next }) } };
  };
  const rewritten = await rewriteImage(registryDir, published.digest, registryDir, rewrap);
  if (unused.size > 0) throw new BootosError('USAGE', `--remove ${[...unused].join(', ')}: not a recipient of ${name}`);
  await addToIndex(registryDir, name, published.version, rewritten.index);
  return { name, version: published.version, previousDigest: published.digest, digest: rewritten.index.digest, size: rewritten.index.size, recipients };
}
