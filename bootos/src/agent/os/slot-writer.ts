// Installs a verified OS release into the slot the device did not boot from (docs/os-updates.md):
//   1. checks: booted from a slot, the release is newer than the running one, the running one is blessed (else the
//      other slot is its fallback), never failed here, channel not expired
//   2. the inactive slot's entry is removed first: from here on only the running slot's entry can boot
//   3. kernel, then initramfs: streamed from the registry through the store (verified while they stream, resumed
//      from a partial download after a break), written to a temp name in the slot folder, fsynced, renamed
//   4. LAST the entry, bootos-<slot>+3.conf, written atomically: systemd-boot orders it first (newest version) and
//      counts its tries down; the running slot's entry stays as the fallback
// A kill anywhere leaves the running slot's entry the default and no entry naming a file that is not complete.
import { open, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { BootosError } from '../../../../fetcher/src/core/error.js';
import { syncDir } from '../../../../fetcher/src/core/fs.js';
import { BOOT_TRIES, otherSlot, type Slot } from '../../../../fetcher/src/formats/boot-entry.js';
import { compareOsVersions } from '../../../../fetcher/src/formats/os-release.js';
import type { ChannelSigned } from '../../../../fetcher/src/formats/trust-docs.js';
import type { ResolvedOs } from '../../../../fetcher/src/trust/resolve-os.js';
import type { RegistrySource } from '../../../../fetcher/src/source/source.js';
import type { Store } from '../../../../fetcher/src/store/store.js';
import type { Esp } from './esp.js';
import type { OsState } from './os-state.js';

export interface OsProgress {
  version: string;
  doneBytes: number;
  totalBytes: number;
}

export interface InstallOptions {
  esp: Esp;
  store: Store;
  source: RegistrySource;
  /** The verified channel the release came from (its expiry is checked again here). */
  channel: ChannelSigned;
  release: ResolvedOs;
  /** The slot this boot came from (`bootos.slot=` on the kernel command line); null: PXE or a direct kernel boot. */
  bootedSlot: Slot | null;
  state: OsState;
  now?: () => number;
  signal?: AbortSignal;
  onProgress?: (p: OsProgress) => void;
}

export type InstallResult =
  | { installed: true; slot: Slot; entry: string; version: string }
  | { installed: false; reason: 'not-newer' | 'on-trial'; version: string; running: string }
  /** The release is in the other slot already, its entry counting (written by an earlier run of the agent). */
  | { installed: false; reason: 'already-installed'; slot: Slot; entry: string; version: string; running: string };

export async function installOsRelease(options: InstallOptions): Promise<InstallResult> {
  const { esp, release, state } = options;
  const now = options.now ?? Date.now;
  if (!options.bootedSlot) {
    throw new BootosError('OS_UPDATE_UNAVAILABLE', `OS release ${release.version}: this device did not boot from a disk slot (no bootos.slot= on its command line: PXE or a direct kernel boot); it takes a new OS with its next boot`);
  }
  const booted = await esp.entryOf(options.bootedSlot);
  if (!booted) throw new BootosError('ESP_INVALID', `${esp.dir}: the booted slot ${options.bootedSlot} has no entry in loader/entries`);
  const running = booted.entry.version;
  if (compareOsVersions(release.version, running) <= 0) return { installed: false, reason: 'not-newer', version: release.version, running };
  // A boot on trial (not blessed yet) keeps the other slot: it is the fallback if this release turns out bad.
  if (booted.name.triesLeft !== null) return { installed: false, reason: 'on-trial', version: release.version, running };
  // A release that already failed to boot here is never tried again (a later one is).
  if (state.hasFailed(release.version)) {
    throw new BootosError('OS_VERSION_FAILED', `OS release ${release.version} failed to boot on this device before (systemd-boot fell back to slot ${options.bootedSlot}); it is not installed again`);
  }
  // Freeze: a channel verified earlier may have expired since; an expired channel installs nothing.
  if (Date.parse(options.channel.expires) <= now()) {
    throw new BootosError('EXPIRED', `channel ${options.channel.name}: expired at ${options.channel.expires}; OS release ${release.version} is not installed from it`);
  }
  const target = otherSlot(options.bootedSlot);
  const existing = await esp.entryOf(target);
  if (existing && existing.entry.version === release.version && existing.name.triesLeft !== 0) {
    return { installed: false, reason: 'already-installed', slot: target, entry: existing.name.file, version: release.version, running };
  }
  // The inactive slot's entry goes first: its files are about to change under it.
  await esp.removeEntry(target);
  await mkdir(esp.slotPath(target), { recursive: true });
  // Temp files of an install that was killed: never named by an entry, removed before they fill the ESP.
  for (const name of await readdir(esp.slotPath(target))) if (name.startsWith('.tmp-')) await rm(esp.slotPath(target, name), { force: true });
  const total = release.kernel.size + release.initramfs.size;
  let done = 0;
  const progress = (bytes: number) => {
    done += bytes;
    options.onProgress?.({ version: release.version, doneBytes: Math.min(done, total), totalBytes: total });
  };
  for (const [file, layer] of [['vmlinuz', release.kernel], ['initramfs', release.initramfs]] as const) {
    await writeSlotFile(options, target, file, layer, progress);
  }
  const entry = await esp.writeEntry({ slot: target, version: release.version, options: booted.entry.options }, { left: BOOT_TRIES });
  await state.recordInstalled(release.version, target, now());
  return { installed: true, slot: target, entry, version: release.version };
}

/** One file of the slot: streamed (verified by the store while it streams) into a temp file, fsynced, renamed. */
async function writeSlotFile(options: InstallOptions, slot: Slot, file: string, layer: { digest: string; size: number }, onBytes: (n: number) => void): Promise<void> {
  const dir = options.esp.slotPath(slot);
  const tmp = `${dir}/.tmp-${file}-${randomBytes(6).toString('hex')}`;
  const stream = options.store.blobStream(options.source, layer, { signal: options.signal, onBytes });
  const fh = await open(tmp, 'wx', 0o644);
  let ok = false;
  try {
    // The iteration ends only after the size and the digest matched: wrong bytes throw before the rename.
    for await (const chunk of stream.chunks) await fh.write(chunk);
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    // The slot keeps the bytes; the store's verified copy is dropped (a partial download stays for a resume).
    await stream.settle(ok ? 'verify' : 'abort').catch(() => {});
    if (!ok) await rm(tmp, { force: true });
  }
  await rename(tmp, `${dir}/${file}`);
  await syncDir(dir);
}
