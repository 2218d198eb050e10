// The device's OS updater (docs/os-updates.md): one per agent. At start it assesses the boot (a fallback from a
// failed release is recorded); each verified channel may bring a newer OS release, which it installs into the
// inactive slot (one install at a time); once the boot is good it blesses the booted entry. A device that did not
// boot from a disk slot (PXE, a direct kernel boot) skips all of it and says so in its status. It never reboots:
// the restart is the API's (POST /api/os/restart), with consent.
import { BootosError, isBootosError, isTransient, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { Slot } from '../../../../fetcher/src/formats/boot-entry.js';
import { compareOsVersions } from '../../../../fetcher/src/formats/os-release.js';
import type { ChannelSigned } from '../../../../fetcher/src/formats/trust-docs.js';
import type { Limits } from '../../../../fetcher/src/core/limits.js';
import type { RegistrySource } from '../../../../fetcher/src/source/source.js';
import type { Store } from '../../../../fetcher/src/store/store.js';
import { resolveOsRelease } from '../../../../fetcher/src/trust/resolve-os.js';
import { assessBoot, blessBoot } from './boot-assessment.js';
import { Esp } from './esp.js';
import { OsState } from './os-state.js';
import { installOsRelease, type OsProgress } from './slot-writer.js';

export interface OsStatus {
  /** "disk": booted from a slot of the ESP, updates itself; "other": PXE or a direct kernel boot, does not. */
  bootedFrom: 'disk' | 'other';
  slot: Slot | null;
  /** The OS version running (the booted entry's), null when not booted from disk. */
  version: string | null;
  /** The booted entry still counts tries: the boot is not blessed yet. */
  onTrial: boolean;
  /** Why OS updates are not done here, or null. */
  skipped: string | null;
  /** The channel's OS release when it is newer than the running one. */
  available: { version: string } | null;
  download: OsProgress | null;
  /** Installed into the other slot and made the default: a restart boots it. */
  pendingRestart: { version: string; slot: Slot } | null;
  /** A release that failed to boot and was fallen back from, seen at this boot. */
  fallback: { version: string; slot: Slot } | null;
  /** Releases that failed on this device (never installed again). */
  failed: string[];
  error: { code: ErrorCode; message: string } | null;
}

export interface OsUpdaterOptions {
  /** The mounted ESP; null when there is none (PXE, direct boot, a host run). */
  espDir: string | null;
  /** From `bootos.slot=` on the kernel command line. */
  bootedSlot: Slot | null;
  stateDir: string;
  store: Store;
  source: RegistrySource;
  arch: string;
  limits?: Partial<Limits>;
  changed?: () => void;
  log?: (message: string) => void;
  now?: () => number;
}

export class OsUpdater {
  private state!: OsState;
  private readonly esp: Esp | null;
  private current: OsStatus;
  private installing: Promise<void> | null = null;
  private lastChannel: ChannelSigned | null = null;
  private readonly abort = new AbortController();

  private constructor(private readonly options: OsUpdaterOptions) {
    this.esp = options.espDir && options.bootedSlot ? new Esp(options.espDir) : null;
    const skipped = !options.bootedSlot
      ? 'not booted from a disk slot (PXE or a direct kernel boot): the OS is updated by what boots it'
      : !options.espDir
        ? 'booted from a disk slot, but the EFI system partition (BOOTOS-EFI) is not mounted'
        : null;
    this.current = {
      bootedFrom: options.bootedSlot ? 'disk' : 'other',
      slot: options.bootedSlot,
      version: null,
      onTrial: false,
      skipped,
      available: null,
      download: null,
      pendingRestart: null,
      fallback: null,
      failed: [],
      error: null,
    };
  }

  /** Opens the state and assesses this boot (recording a fallback). Errors land in status.error, never thrown. */
  static async open(options: OsUpdaterOptions): Promise<OsUpdater> {
    const updater = new OsUpdater(options);
    updater.state = await OsState.open(options.stateDir);
    updater.current.failed = updater.state.failed.map((f) => f.version);
    if (updater.esp && options.bootedSlot) {
      try {
        const boot = await assessBoot(updater.esp, options.bootedSlot, updater.state, (options.now ?? Date.now)());
        updater.current.version = boot.version;
        updater.current.onTrial = boot.onTrial;
        updater.current.fallback = boot.fallback;
        updater.current.failed = updater.state.failed.map((f) => f.version);
        if (boot.fallback) options.log?.(`OS release ${boot.fallback.version} failed to boot (slot ${boot.fallback.slot}); back on ${boot.version} (slot ${boot.slot}); it is not installed again`);
        const installed = updater.state.installed;
        if (installed && installed.slot !== options.bootedSlot) updater.current.pendingRestart = { version: installed.version, slot: installed.slot };
      } catch (err) {
        updater.failure(err);
      }
    } else if (updater.current.skipped) {
      options.log?.(`OS updates skipped: ${updater.current.skipped}`);
    }
    return updater;
  }

  get status(): OsStatus {
    return { ...this.current, failed: [...this.current.failed] };
  }

  /** Called with each verified channel: installs its OS release when it is newer (in the background; see settled()). */
  channelVerified(channel: ChannelSigned): void {
    this.lastChannel = channel;
    if (!this.esp || !this.options.bootedSlot || !channel.os) return;
    const running = this.current.version;
    if (running === null) return;
    const wanted = channel.os.version;
    this.current.available = compareOsVersions(wanted, running) > 0 && !this.state.hasFailed(wanted) ? { version: wanted } : null;
    if (!this.current.available || this.current.pendingRestart?.version === wanted || this.installing) {
      this.options.changed?.();
      return;
    }
    this.installing = this.install(channel).finally(() => (this.installing = null));
  }

  /**
   * A channel check found the channel unchanged: an install that failed for a transient reason (the network, a
   * timeout) is tried again, resuming its download; a refused release is not fetched again until the channel moves.
   */
  retry(): void {
    if (this.lastChannel && this.current.error && isTransient(this.current.error.code)) this.channelVerified(this.lastChannel);
  }

  /** Resolves when no install is under way. */
  async settled(): Promise<void> {
    await this.installing;
  }

  private async install(channel: ChannelSigned): Promise<void> {
    const esp = this.esp!;
    try {
      const release = await resolveOsRelease(this.options.source, channel, this.options.arch, this.options.limits);
      if (!release) return;
      this.current.error = null;
      let announced = false;
      const result = await installOsRelease({
        esp,
        store: this.options.store,
        source: this.options.source,
        channel,
        release,
        bootedSlot: this.options.bootedSlot,
        state: this.state,
        signal: this.abort.signal,
        ...(this.options.now ? { now: this.options.now } : {}),
        onProgress: (p) => {
          if (!announced) this.options.log?.(`OS release ${release.version}: writing ${p.totalBytes} bytes into slot ${this.options.bootedSlot === 'a' ? 'b' : 'a'}`);
          announced = true;
          this.current.download = p;
          this.options.changed?.();
        },
      });
      if (result.installed || result.reason === 'already-installed') {
        this.current.pendingRestart = { version: result.version, slot: result.slot };
        this.options.log?.(`OS release ${result.version} is in slot ${result.slot} (${result.entry}); it boots at the next restart`);
      }
    } catch (err) {
      this.failure(err);
    } finally {
      this.current.download = null;
      this.options.changed?.();
    }
  }

  /**
   * The boot is good (the channel verified, the profile's apps listening): the booted entry loses its counter, so
   * systemd-boot keeps booting it. A no-op when it has none.
   */
  async bless(): Promise<boolean> {
    if (!this.esp || !this.options.bootedSlot || !this.current.onTrial) return false;
    try {
      const { blessed, entry } = await blessBoot(this.esp, this.options.bootedSlot);
      this.current.onTrial = false;
      if (blessed) this.options.log?.(`OS release ${this.current.version} booted well: ${entry} is blessed`);
      this.options.changed?.();
      return blessed;
    } catch (err) {
      this.failure(err);
      return false;
    }
  }

  /** The release a restart would boot; OS_UPDATE_UNAVAILABLE when there is none. */
  checkRestart(): { version: string; slot: Slot } {
    const pending = this.current.pendingRestart;
    if (!pending) throw new BootosError('OS_UPDATE_UNAVAILABLE', this.current.skipped ?? 'no OS release is waiting for a restart');
    if (this.installing) throw new BootosError('OS_UPDATE_UNAVAILABLE', 'an OS release is being written; restart when it is done');
    return pending;
  }

  close(): void {
    this.abort.abort();
  }

  private failure(err: unknown): void {
    this.current.error = isBootosError(err) ? { code: err.code, message: err.message } : { code: 'AGENT_ERROR', message: (err as Error).message };
    this.options.log?.(`OS update: error ${this.current.error.code}: ${this.current.error.message}`);
  }
}
