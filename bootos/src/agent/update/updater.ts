// The update state machine of one app: what happens when the channel pins a new digest for it.
//
//   downloading ─▶ (app not running)  the next start uses it                                 ─▶ done
//               ─▶ (app frozen)       the next connection stops it and starts the new version ─▶ pending ─▶ done
//               ─▶ (app running)      preparing ─▶ starting ─▶ switching ─▶ done
//                                         │            │            │
//                                         └────────────┴────────────┴──▶ rolling-back ─▶ failed
//
// A hot update (app running) is one HotUpdate per attempt (hot-update.ts), which describes its steps.
// A kill of the agent at any point is finished at the next start by recoverUpdate() (recovery.ts): before `switched`
// it rolls back, from `switched` on it rolls forward.
import { isTransient, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { ResolvedImage } from '../../../../fetcher/src/trust/resolve.js';
import type { App } from '../app/app.js';
import type { Instance } from '../app/instance.js';
import type { AgentConfig } from '../config.js';
import type { AppRecord, Pin, UpdateStore } from './journal.js';
import type { AppNetwork } from '../runtime/network.js';
import type { PulledImage, PullProgress } from '../../../../fetcher/src/store/pull.js';
import { asBootosError, HotUpdate, isDeviceFault, type HotUpdateContext, type UpdateState } from './hot-update.js';

export { HANDOVER_ACK, type UpdateState } from './hot-update.js';

export interface UpdaterContext {
  config: AgentConfig;
  store: UpdateStore;
  resolve(image: string, pin: Omit<Pin, 'version'>): Promise<ResolvedImage>;
  pull(image: string, pin: Pin, onProgress: (p: PullProgress) => void): Promise<PulledImage>;
  newNetwork(app: string): Promise<AppNetwork>;
  releaseNetwork(network: AppNetwork): Promise<void>;
  step(app: string, message: string): void;
  changed(): void;
}

/** What the channel offers: a digest and size (and the informational version, when the channel carries it). */
export interface Offer {
  digest: string;
  size: number;
  version?: string;
}

export class Updater {
  private running: Promise<void> | null = null;
  private next: Offer | null = null;
  private recordWrites: Promise<void> = Promise.resolve();
  private pendingPin: Pin | null = null;
  /** An offer that failed for a reason of the device, not of the version (registry unreachable, no space). */
  private retryOffer: Offer | null = null;
  /** Steps of the current update, for the tests and the API: `['preparing', 'starting', …]`. */
  readonly history: string[] = [];

  constructor(
    private readonly app: App,
    private readonly ctx: UpdaterContext,
    private record: AppRecord,
  ) {}

  private get name(): string {
    return this.app.name;
  }

  private status(state: UpdateState, fields: Record<string, unknown> = {}): void {
    this.app.update = { state, pendingVersion: null, error: null, progress: null, ...fields };
    this.history.push(state);
    if (this.history.length > 100) this.history.splice(0, this.history.length - 100);
    this.ctx.changed();
  }

  private step(message: string): void {
    this.ctx.step(this.name, `update: ${message}`);
  }

  /** The version that last served well here (the cached version an app falls back on). */
  get lastServed(): Pin | null {
    return this.record.current;
  }

  /**
   * The app starts on `running` (cached) because `offer` could not be had (`error`): shown as a failed update, tried
   * again at the next channel check, never remembered as the version's fault.
   */
  deferred(offer: Offer, error: { code: ErrorCode; message: string }, running: Pin): void {
    this.retryOffer = offer;
    const version = offer.version ?? offer.digest;
    this.step(`${version} cannot be pulled (${error.code}): ${this.name} runs its cached ${running.version}; ${version} is tried again at the next channel check`);
    this.status('failed', { pendingVersion: offer.version ?? null, runningCached: running.version, error: { code: error.code, message: error.message, version: offer.version ?? null, digest: offer.digest } });
  }

  /** Shown after a restart when the channel still pins a version that failed here. */
  showFailed(digest: string): void {
    const failed = this.record.failed[digest];
    if (failed) this.status('failed', { error: { code: failed.code, message: failed.message, version: failed.version, digest } });
  }

  /** The channel pins `offer` for this app. Settles when that offer (and any newer one) has been dealt with. */
  offer(offer: Offer): Promise<void> {
    if (offer.digest === this.app.pin.digest && !this.running) return Promise.resolve();
    const failed = this.record.failed[offer.digest];
    if (failed) {
      // Not in a loop: a digest that failed here is not tried again (a later one is). Offered only when the channel
      // changed, so this is said once per channel version.
      this.step(`${failed.version} failed here before (${failed.code}): not tried again`);
      this.status('failed', { pendingVersion: failed.version, error: { code: 'UPDATE_SKIPPED', message: `${failed.version} failed on this device before: ${failed.message}`, version: failed.version, digest: offer.digest, cause: failed.code } });
      return this.running ?? Promise.resolve();
    }
    this.next = offer;
    this.retryOffer = null;
    this.running ??= this.loop().finally(() => (this.running = null));
    return this.running;
  }

  /** At each channel check: an update that failed for the device's reasons (not the version's) is tried again. */
  retry(): void {
    if (!this.retryOffer || this.running || this.app.closed) return;
    const offer = this.retryOffer;
    this.step(`trying ${offer.version ?? offer.digest} again`);
    void this.offer(offer);
  }

  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    while (this.next) {
      const offer = this.next;
      this.next = null;
      if (offer.digest === this.app.pin.digest || this.app.closed) continue;
      try {
        await this.apply(offer);
      } catch (err) {
        this.step(`unexpected failure: ${(err as Error).message}`);
      }
    }
  }

  /** An instance of `pin` serves: remembered as the version that last served well. */
  served(pin: Pin): void {
    if (this.pendingPin && this.pendingPin.digest === pin.digest) {
      this.pendingPin = null;
      this.status('done', { version: pin.version });
    }
    if (this.record.current?.digest === pin.digest) return;
    this.record = { ...this.record, current: pin };
    const record = this.record;
    this.recordWrites = this.recordWrites.then(() => this.ctx.store.writeRecord(this.name, record)).catch((err) => this.step(`cannot save state: ${(err as Error).message}`));
  }

  /**
   * Remembers that `pin` failed here. Never throws: a record that cannot be written (a full disk) is said, and the
   * failure is still remembered for as long as the agent runs.
   */
  private async remember(pin: Pin, code: ErrorCode, message: string): Promise<void> {
    this.record = { ...this.record, failed: { ...this.record.failed, [pin.digest]: { version: pin.version, code, message, at: new Date().toISOString() } } };
    const record = this.record;
    this.recordWrites = this.recordWrites.then(() => this.ctx.store.writeRecord(this.name, record)).catch((err) => {
      const e = asBootosError(err, 'AGENT_ERROR');
      this.step(`cannot record that ${pin.version} failed (${e.code}: ${e.message}): remembered until the agent stops`);
    });
    await this.recordWrites;
  }

  private async apply(offer: Offer): Promise<void> {
    const pendingVersion = offer.version ?? null;
    this.status('downloading', { pendingVersion, progress: { doneBytes: 0, totalBytes: 0 } });
    this.step(`${pendingVersion ?? offer.digest} offered by the channel: downloading`);
    let resolved: ResolvedImage;
    let pulled: PulledImage;
    let pin: Pin = { digest: offer.digest, size: offer.size, version: offer.version ?? '?' };
    try {
      resolved = await this.ctx.resolve(this.name, offer);
      pin = { digest: offer.digest, size: offer.size, version: resolved.config.version };
      pulled = await this.ctx.pull(this.name, pin, (p) => {
        this.app.update = { ...this.app.update, progress: { doneBytes: p.doneBytes, totalBytes: p.totalBytes } };
        this.ctx.changed();
      });
    } catch (err) {
      // The old version never stopped serving: nothing to roll back.
      const e = asBootosError(err, 'APP_START_FAILED');
      // A transient failure says nothing about the version (the registry was unreachable), nor does a full data
      // root: tried again at the next poll.
      const transient = isTransient(e.code) || isDeviceFault(e.code);
      if (transient) this.retryOffer = offer;
      else await this.remember(pin, e.code, `download failed: ${e.message}`);
      this.step(`download of ${pin.version} failed: ${e.code}: ${e.message}${transient ? ' (tried again at the next channel check)' : ''}`);
      this.status('failed', { pendingVersion: pin.version, error: { code: e.code, message: `download failed: ${e.message}`, version: pin.version, digest: pin.digest } });
      return;
    }
    await this.app.quiesce();
    if (this.app.closed) return;
    const current = this.app.runs.current;
    if (this.app.state === 'frozen' && current) {
      this.app.setTarget(resolved, pin, pulled);
      this.app.restartAtNextConnection();
      this.pendingPin = pin;
      this.step(`${pin.version} downloaded; frozen on ${current.version}: the next connection restarts it on ${pin.version}`);
      this.status('pending', { pendingVersion: pin.version });
      return;
    }
    if (this.app.state !== 'running' || !current) {
      this.app.setTarget(resolved, pin, pulled);
      this.step(`${pin.version} downloaded; the next start runs it`);
      this.status('done', { version: pin.version });
      return;
    }
    await this.hot(resolved, pin, pulled, current);
  }

  /** A running app: one HotUpdate attempt (prepare → start → switch, or rollback). */
  private async hot(resolved: ResolvedImage, pin: Pin, pulled: PulledImage, old: Instance): Promise<void> {
    const attempt = new HotUpdate(this.app, this.hotUpdateContext(), resolved, pin, pulled, old);
    if (await attempt.run()) this.retryOffer = { digest: pin.digest, size: pin.size, version: pin.version };
  }

  private hotUpdateContext(): HotUpdateContext {
    return {
      config: this.ctx.config,
      store: this.ctx.store,
      newNetwork: (app) => this.ctx.newNetwork(app),
      releaseNetwork: (network) => this.ctx.releaseNetwork(network),
      status: (state, fields) => this.status(state, fields),
      step: (message) => this.step(message),
      remember: (pin, code, message) => this.remember(pin, code, message),
    };
  }
}
