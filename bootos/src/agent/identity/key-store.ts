// Where the device's identity (its private keys) is kept. The one place that stores it today is a file on the data
// root, mode 0600 (FileKeyStore). This is the seam for sealing it with a TPM2 (issue 18, not built yet): a
// TpmKeyStore would keep the same bytes sealed to the TPM's storage key and PCR policy, and nothing else changes.
import { chmod, readFile } from 'node:fs/promises';
import { errnoCode } from '../../../../fetcher/src/core/error.js';
import { writeFileAtomic } from '../../../../fetcher/src/core/fs.js';

export interface KeyStore {
  /** For messages: where the identity is kept. */
  readonly location: string;
  /** The stored bytes, or null when there are none yet (first boot). */
  load(): Promise<Buffer | null>;
  /** Stores the bytes once, atomically: a power cut leaves the old bytes or the new, never half. */
  save(bytes: Buffer): Promise<void>;
}

/** A file readable by root alone (0600), in the agent's state folder on BOOTOS-DATA. */
export class FileKeyStore implements KeyStore {
  constructor(readonly location: string) {}

  async load(): Promise<Buffer | null> {
    try {
      const bytes = await readFile(this.location);
      // Whatever widened it (a restore from a backup, a hand edit), the private keys are readable by root alone.
      await chmod(this.location, 0o600);
      return bytes;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
  }

  async save(bytes: Buffer): Promise<void> {
    await writeFileAtomic(this.location, bytes, 0o600);
  }
}
