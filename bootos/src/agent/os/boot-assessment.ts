// After a boot from a slot: what systemd-boot's boot counting says (docs/os-updates.md).
//   - the booted entry still has a counter (`bootos-b+2-1.conf`): this boot is on trial; blessBoot() removes the
//     counter (`bootos-b.conf`) once the agent knows the boot is good (the channel verified, the profile's apps
//     startable), and from then on systemd-boot boots it without counting
//   - the other slot's entry has no tries left (`bootos-b+0-3.conf`) and a newer version than the booted one:
//     that release failed to boot and systemd-boot fell back here. It is recorded as failed in the agent's state
//     (never installed again) and its entry is removed.
import type { Slot } from '../../../../fetcher/src/formats/boot-entry.js';
import { entryFileName, otherSlot } from '../../../../fetcher/src/formats/boot-entry.js';
import { BootosError } from '../../../../fetcher/src/core/error.js';
import { compareOsVersions } from '../../../../fetcher/src/formats/os-release.js';
import type { Esp } from './esp.js';
import type { OsState } from './os-state.js';

export interface BootAssessment {
  slot: Slot;
  /** The OS version this boot runs (its entry's `version`). */
  version: string;
  /** The booted entry still counts tries: the boot is not blessed yet. */
  onTrial: boolean;
  /** A newer release that failed to boot and was fallen back from, seen at this boot. */
  fallback: { version: string; slot: Slot } | null;
}

export async function assessBoot(esp: Esp, slot: Slot, state: OsState, now = Date.now()): Promise<BootAssessment> {
  const booted = await esp.entryOf(slot);
  if (!booted) throw new BootosError('ESP_INVALID', `${esp.dir}: the booted slot ${slot} has no entry in loader/entries`);
  const version = booted.entry.version;
  let fallback: BootAssessment['fallback'] = null;
  const other = await esp.entryOf(otherSlot(slot));
  if (other && other.name.triesLeft === 0 && compareOsVersions(other.entry.version, version) > 0) {
    fallback = { version: other.entry.version, slot: other.name.slot };
    await state.recordFailure(fallback.version, fallback.slot, now);
    await esp.removeEntry(fallback.slot);
  }
  if (state.installed && state.installed.slot === slot && state.installed.version === version && !fallback) await state.clearInstalled();
  return { slot, version, onTrial: booted.name.triesLeft !== null, fallback };
}

/** Removes the booted entry's counter: systemd-boot no longer counts its tries. Returns the new file name. */
export async function blessBoot(esp: Esp, slot: Slot): Promise<{ blessed: boolean; entry: string }> {
  const booted = await esp.entryOf(slot);
  if (!booted) throw new BootosError('ESP_INVALID', `${esp.dir}: the booted slot ${slot} has no entry in loader/entries`);
  const plain = entryFileName(slot);
  if (booted.name.triesLeft === null) return { blessed: false, entry: plain };
  await esp.renameEntry(booted.name.file, plain);
  return { blessed: true, entry: plain };
}
