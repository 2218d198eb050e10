// What the OS updater keeps across reboots on the data root (<stateDir>/os.json): the releases that failed to boot
// here (systemd-boot fell back from them), which are never installed again, and the release it last installed.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../../../fetcher/src/core/error.js';
import { parseJson } from '../../../../fetcher/src/core/guard.js';
import { writeFileAtomic } from '../../../../fetcher/src/core/fs.js';
import { OS_VERSION } from '../../../../fetcher/src/formats/os-release.js';
import type { Slot } from '../../../../fetcher/src/formats/boot-entry.js';

export interface FailedRelease {
  version: string;
  slot: Slot;
  /** ISO time the fallback was seen. */
  at: string;
}

export interface OsStateData {
  failed: FailedRelease[];
  /** The release written into a slot and made the default, waiting for a restart and a good boot. */
  installed: { version: string; slot: Slot; at: string } | null;
}

export class OsState {
  private data: OsStateData = { failed: [], installed: null };

  private constructor(private readonly file: string) {}

  static async open(stateDir: string): Promise<OsState> {
    const state = new OsState(join(stateDir, 'os.json'));
    let bytes: Buffer | null = null;
    try {
      bytes = await readFile(state.file);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    if (bytes) {
      const value = parseJson(bytes, state.file) as Partial<OsStateData>;
      const slotOf = (s: unknown): Slot | null => (s === 'a' || s === 'b' ? s : null);
      for (const f of Array.isArray(value.failed) ? value.failed : []) {
        const slot = slotOf(f?.slot);
        if (typeof f?.version === 'string' && OS_VERSION.test(f.version) && slot) state.data.failed.push({ version: f.version, slot, at: String(f.at) });
      }
      const i = value.installed;
      const slot = slotOf(i?.slot);
      if (i && typeof i.version === 'string' && OS_VERSION.test(i.version) && slot) state.data.installed = { version: i.version, slot, at: String(i.at) };
    }
    return state;
  }

  get failed(): readonly FailedRelease[] {
    return this.data.failed;
  }

  get installed(): OsStateData['installed'] {
    return this.data.installed;
  }

  hasFailed(version: string): boolean {
    return this.data.failed.some((f) => f.version === version);
  }

  async recordFailure(version: string, slot: Slot, now = Date.now()): Promise<void> {
    if (!this.hasFailed(version)) this.data.failed.push({ version, slot, at: new Date(now).toISOString() });
    if (this.data.installed?.version === version) this.data.installed = null;
    await this.save();
  }

  async recordInstalled(version: string, slot: Slot, now = Date.now()): Promise<void> {
    this.data.installed = { version, slot, at: new Date(now).toISOString() };
    await this.save();
  }

  async clearInstalled(): Promise<void> {
    if (!this.data.installed) return;
    this.data.installed = null;
    await this.save();
  }

  private async save(): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(this.data, null, 2)}\n`, 0o600);
  }
}
