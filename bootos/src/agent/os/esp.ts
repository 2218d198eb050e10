// The EFI system partition, mounted at a directory, as the OS updater reads and changes it: the bootos slot entries
// in loader/entries (fetcher/src/formats/boot-entry.ts) and the slot folders. Every change is a write to a temp
// name, fsync, rename, fsync of the folder, so an entry never names a file that is not complete. (FAT has no
// journal: a power cut during the directory update itself can still need the firmware's or fsck's repair; the
// order of writes keeps the entry that boots today untouched until the new files are all there.)
import { readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError, errnoCode } from '../../../../fetcher/src/core/error.js';
import { syncDir, writeFileAtomic } from '../../../../fetcher/src/core/fs.js';
import {
  ENTRIES_DIR, bootOrder, entryFileName, formatEntry, parseEntry, parseEntryName, slotDir,
  type BootEntry, type EntryName, type OrderedEntry, type Slot,
} from '../../../../fetcher/src/formats/boot-entry.js';

export interface SlotEntry extends OrderedEntry {
  name: EntryName;
  entry: BootEntry;
}

export class Esp {
  constructor(readonly dir: string) {}

  get entriesDir(): string {
    return join(this.dir, ENTRIES_DIR);
  }

  slotPath(slot: Slot, file?: string): string {
    return file ? join(this.dir, slotDir(slot), file) : join(this.dir, slotDir(slot));
  }

  /** Every bootos slot entry (other files in loader/entries are not ours and are left alone). */
  async entries(): Promise<SlotEntry[]> {
    let files: string[];
    try {
      files = await readdir(this.entriesDir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new BootosError('ESP_INVALID', `${this.dir}: no ${ENTRIES_DIR} folder (is this the ESP of a bootos disk image?)`);
      throw err;
    }
    const found: SlotEntry[] = [];
    for (const file of files.sort()) {
      const name = parseEntryName(file);
      if (!name) continue;
      const where = join(ENTRIES_DIR, file);
      const entry = parseEntry(await readFile(join(this.entriesDir, file), 'utf8'), name.slot, where);
      if (found.some((e) => e.name.slot === name.slot)) throw new BootosError('ESP_INVALID', `${this.dir}: slot ${name.slot} has two entries (${found.find((e) => e.name.slot === name.slot)!.name.file}, ${file})`);
      found.push({ name, entry });
    }
    return found;
  }

  async entryOf(slot: Slot): Promise<SlotEntry | null> {
    return (await this.entries()).find((e) => e.name.slot === slot) ?? null;
  }

  /** The entry systemd-boot boots next without a menu choice (its default), or null when there is none. */
  async defaultEntry(): Promise<SlotEntry | null> {
    return bootOrder(await this.entries())[0] ?? null;
  }

  /** Writes a slot's entry under `fileName` atomically (a temp file whose name systemd-boot skips: it starts with "."). */
  async writeEntry(entry: BootEntry, counter?: { left: number; done?: number }): Promise<string> {
    const file = entryFileName(entry.slot, counter);
    await writeFileAtomic(join(this.entriesDir, file), formatEntry(entry), 0o644, join(this.entriesDir, `.tmp-${file}`));
    return file;
  }

  /** Removes a slot's entry (whatever its counter), so that systemd-boot no longer offers it; true when one was there. */
  async removeEntry(slot: Slot): Promise<boolean> {
    const entry = await this.entryOf(slot);
    if (!entry) return false;
    await rm(join(this.entriesDir, entry.name.file));
    await syncDir(this.entriesDir);
    return true;
  }

  /** Renames an entry file (blessing: the counter goes); the folder is synced. */
  async renameEntry(from: string, to: string): Promise<void> {
    await rename(join(this.entriesDir, from), join(this.entriesDir, to));
    await syncDir(this.entriesDir);
  }
}
