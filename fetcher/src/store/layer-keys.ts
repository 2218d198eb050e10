// The content keys of an image's encrypted layers, opened with the device's sealing key before anything is
// downloaded or staged: a device that is not a recipient of every encrypted layer is refused here
// (IMAGE_NOT_RECIPIENT), so nothing of the image is fetched or unpacked. Plain layers have no key (null).
import type { KeyObject } from 'node:crypto';
import { BootosError } from '../core/error.js';
import { isEncryptedMediaType, readLayerKeys } from '../formats/layer-encryption.js';
import type { Descriptor } from '../formats/oci.js';
import { openSealed, rawPublicKey } from '../trust/sealed-box.js';

export function openLayerKeys(image: string, layers: Descriptor[], sealKey: KeyObject | undefined): (Buffer | null)[] {
  const encrypted = layers.filter((l) => isEncryptedMediaType(l.mediaType));
  if (encrypted.length === 0) return layers.map(() => null);
  if (!sealKey) {
    throw new BootosError('IMAGE_NOT_RECIPIENT', `${image} is encrypted and this device has no sealing key to open it (bootos pull --seal-key FILE; an enrolled device uses its own)`);
  }
  const publicKey = rawPublicKey(sealKey);
  const seal = publicKey.toString('base64');
  return layers.map((layer, i) => {
    if (!isEncryptedMediaType(layer.mediaType)) return null;
    const keys = readLayerKeys(layer.annotations, `${image}: layers[${i}] ${layer.digest}`);
    // Entries name their recipient's public key: the one for this device opens; the others are not tried.
    const mine = keys.recipients.filter((r) => r.seal === seal);
    for (const entry of mine) {
      const key = openSealed({ epk: Buffer.from(entry.epk, 'base64'), box: Buffer.from(entry.box, 'base64') }, sealKey, publicKey);
      if (key?.length === 32) return key;
    }
    if (mine.length > 0) throw new BootosError('IMAGE_DECRYPT_FAILED', `${image}: the content key of layer ${layer.digest} sealed to this device does not open (altered)`);
    throw new BootosError(
      'IMAGE_NOT_RECIPIENT',
      `${image} is encrypted to ${keys.recipients.length} recipient(s) and this device (sealing key ${seal}) is not one of them: ` +
        'the publisher must add it (bootos image rewrap --add) and sign the channel again',
    );
  });
}
