// The ESP's two OS slots as systemd-boot sees them (docs/os-updates.md): loader/entries/bootos-a.conf and
// bootos-b.conf, Boot Loader Specification type #1 entries, each with a kernel and initramfs in /bootos-<slot>/.
// A new release's entry carries a boot counter in its file name (`bootos-b+3.conf`), which systemd-boot's Automatic
// Boot Assessment counts down on each boot of it (`+2-1`, `+1-2`, `+0-3`); the agent removes the counter once the
// boot is good (`bootos-b.conf`). No `default` in loader.conf: systemd-boot then boots the first entry in its order,
// which puts entries with no tries left last and orders the rest by `sort-key`, then `version`, newest first.
// The OS builder (bootos/src/os/disk.ts) writes slot a this way; the agent (bootos/src/agent/os/) writes the rest.
import { BootosError } from '../core/error.js';
import { OS_VERSION, compareOsVersions } from './os-release.js';

export type Slot = 'a' | 'b';
export const SLOTS: readonly Slot[] = ['a', 'b'];
export const otherSlot = (slot: Slot): Slot => (slot === 'a' ? 'b' : 'a');

/** The tries a new release's entry starts with. */
export const BOOT_TRIES = 3;
/** Every bootos entry has this sort-key, so systemd-boot orders them by version. */
export const SORT_KEY = 'bootos';
export const ENTRIES_DIR = 'loader/entries';
export const LOADER_CONF = 'loader/loader.conf';
/** No `default` line: the order of the entries decides (see the header). */
export const LOADER_CONF_TEXT = 'timeout 0\neditor no\n';

export const slotDir = (slot: Slot) => `bootos-${slot}`;
/** The kernel command-line word that tells the agent which slot it was booted from. */
export const SLOT_CMDLINE_KEY = 'bootos.slot';

export interface EntryName {
  slot: Slot;
  /** Tries left (the `+N` of the name), null when the entry has no counter (blessed, or never counted). */
  triesLeft: number | null;
  /** Tries done (the `-M`), 0 when the name has `+N` only. */
  triesDone: number;
  file: string;
}

const ENTRY_FILE = /^bootos-([ab])(?:\+(\d{1,4})(?:-(\d{1,4}))?)?\.conf$/;

/** A loader/entries file name of a bootos slot, or null for any other file. */
export function parseEntryName(file: string): EntryName | null {
  const m = ENTRY_FILE.exec(file);
  if (!m) return null;
  return { slot: m[1] as Slot, triesLeft: m[2] === undefined ? null : Number(m[2]), triesDone: m[3] === undefined ? 0 : Number(m[3]), file };
}

export function entryFileName(slot: Slot, counter?: { left: number; done?: number }): string {
  if (!counter) return `bootos-${slot}.conf`;
  return `bootos-${slot}+${counter.left}${counter.done ? `-${counter.done}` : ''}.conf`;
}

export interface BootEntry {
  slot: Slot;
  version: string;
  /** The kernel command line (with `bootos.slot=<slot>`). */
  options: string;
}

/** `options` with `bootos.slot=` set to `slot` (replaced when present, added when not). */
export function withSlot(options: string, slot: Slot): string {
  const words = options.trim().split(/\s+/).filter((w) => w && !w.startsWith(`${SLOT_CMDLINE_KEY}=`));
  return [...words, `${SLOT_CMDLINE_KEY}=${slot}`].join(' ');
}

export function formatEntry(entry: BootEntry): string {
  if (/[\r\n]/.test(entry.options)) throw new BootosError('USAGE', 'a kernel command line is one line');
  if (!OS_VERSION.test(entry.version)) throw new BootosError('USAGE', `not an OS version: ${JSON.stringify(entry.version)}`);
  const dir = slotDir(entry.slot);
  return [
    `title bootos ${entry.version} (slot ${entry.slot})`,
    `sort-key ${SORT_KEY}`,
    `version ${entry.version}`,
    `linux /${dir}/vmlinuz`,
    `initrd /${dir}/initramfs`,
    `options ${withSlot(entry.options, entry.slot)}`,
    '',
  ].join('\n');
}

/** Reads an entry bootos wrote; ESP_INVALID when it is not one (another tool's entry is not a slot). */
export function parseEntry(text: string, slot: Slot, where: string): BootEntry {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([a-z-]+)\s+(.*?)\s*$/.exec(line);
    if (m) fields.set(m[1]!, m[2]!);
  }
  const version = fields.get('version');
  if (version === undefined || !OS_VERSION.test(version)) throw new BootosError('ESP_INVALID', `${where}: no bootos version line (got ${JSON.stringify(version ?? null)})`);
  const dir = slotDir(slot);
  if (fields.get('linux') !== `/${dir}/vmlinuz` || fields.get('initrd') !== `/${dir}/initramfs`) {
    throw new BootosError('ESP_INVALID', `${where}: its linux and initrd lines are not /${dir}/vmlinuz and /${dir}/initramfs`);
  }
  return { slot, version, options: fields.get('options') ?? '' };
}

export interface OrderedEntry {
  name: EntryName;
  entry: BootEntry;
}

/**
 * The order systemd-boot (252) gives bootos's entries: no tries left last; then (same sort-key) version, newest
 * first; then the id (file name), descending; then more tries left first. Its default is the first one.
 */
export function bootOrder<T extends OrderedEntry>(entries: T[]): T[] {
  return [...entries].sort((x, y) => {
    const bad = Number(x.name.triesLeft === 0) - Number(y.name.triesLeft === 0);
    if (bad) return bad;
    const version = compareOsVersions(y.entry.version, x.entry.version);
    if (version) return version;
    if (x.name.file !== y.name.file) return x.name.file < y.name.file ? 1 : -1;
    return (y.name.triesLeft ?? 0) - (x.name.triesLeft ?? 0);
  });
}
