// The update state machine of one app: what happens when the channel pins a new digest for it.
//
//   downloading ─▶ (app not running)  the next start uses it                                 ─▶ done
//               ─▶ (app frozen)       the next connection stops it and starts the new version ─▶ pending ─▶ done
//               ─▶ (app running)      preparing ─▶ starting ─▶ switching ─▶ done
//                                         │            │            │
//                                         └────────────┴────────────┴──▶ rolling-back ─▶ failed
//
// A hot update (app running):
//   preparing  journal `preparing`; space for the snapshot checked (statfs); the old version prepared by its image's
//              hand-over mode: `signal` SIGUSR1 and wait for its `bootos: handover-ready` line (or the timeout),
//              `exclusive` new connections held, old drained and stopped, `none` nothing; /data snapshotted
//              (the old version paused meanwhile, if it runs); journal `snapshotted`
//   starting   the new version started beside the old (after it, for exclusive) in a network namespace of its own,
//              on the same /data, until it passes its health check
//   switching  journal `switched`; new connections go to the new version; the old one drains its open connections
//              (up to updateDrainTimeoutMs) and is stopped; a crash of the new version within updateGraceMs rolls back;
//              journal `committed`; the snapshot is dropped
//   rolling-back  journal `rolling-back`; the new version killed; the old one serves again (re-routed, and told by
//              SIGUSR2 that the hand-over is off, or started again if it was stopped); /data restored from the snapshot
//              if it changed; the digest remembered as
//              failed (never tried again automatically; a later digest is tried normally)
// A kill of the agent at any point is finished at the next start by recoverUpdate() (recovery.ts): before `switched` it rolls
// back, from `switched` on it rolls forward.
import { join } from 'node:path';
import { BootosError, isBootosError, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { ResolvedImage } from '../../../../fetcher/src/trust/resolve.js';
import type { App } from '../app/app.js';
import type { Instance } from '../app/instance.js';
import type { AgentConfig } from '../config.js';
import type { AppRecord, JournalEntry, Pin, UpdateStore } from './journal.js';
import type { AppNetwork } from '../runtime/network.js';
import type { PulledImage, PullProgress } from '../../../../fetcher/src/store/pull.js';
import { checkSnapshotSpace, dataFingerprint, dropSnapshot, restoreBySwap, restoreInPlace, snapshotPathOf, takeSnapshot } from './snapshot.js';

/**
 * The line an app with `handover: signal` prints on stdout once it has flushed its data after SIGUSR1. If the update
 * then fails while the app still runs, it gets SIGUSR2: the hand-over is off, it carries on as before.
 */
export const HANDOVER_ACK = 'bootos: handover-ready';

export type UpdateState = 'idle' | 'downloading' | 'pending' | 'preparing' | 'starting' | 'switching' | 'rolling-back' | 'done' | 'failed';

/** Pull failures that say nothing about the version (the registry was unreachable): tried again at the next poll. */
const TRANSIENT: ErrorCode[] = ['NETWORK', 'TIMEOUT', 'HTTP_ERROR'];

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

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export class Updater {
  private running: Promise<void> | null = null;
  private next: Offer | null = null;
  private recordWrites: Promise<void> = Promise.resolve();
  private pendingPin: Pin | null = null;
  /** An offer that failed for a reason of the device, not of the version (registry unreachable, no space). */
  private retryOffer: Offer | null = null;
  /** Held by connections while a rollback after the switch brings the old version back. */
  private rollbackGate: Deferred | null = null;
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

  private async remember(pin: Pin, code: ErrorCode, message: string): Promise<void> {
    this.record = { ...this.record, failed: { ...this.record.failed, [pin.digest]: { version: pin.version, code, message, at: new Date().toISOString() } } };
    const record = this.record;
    this.recordWrites = this.recordWrites.then(() => this.ctx.store.writeRecord(this.name, record));
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
      const transient = TRANSIENT.includes(e.code);
      if (transient) this.retryOffer = offer;
      else await this.remember(pin, e.code, `download failed: ${e.message}`);
      this.step(`download of ${pin.version} failed: ${e.code}: ${e.message}${transient ? ' (tried again at the next channel check)' : ''}`);
      this.status('failed', { pendingVersion: pin.version, error: { code: e.code, message: `download failed: ${e.message}`, version: pin.version, digest: pin.digest } });
      return;
    }
    await this.app.quiesce();
    if (this.app.closed) return;
    const current = this.app.current;
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

  // ── the hot update ────────────────────────────────────────────────────────────────────────────────────────────

  private async hot(resolved: ResolvedImage, pin: Pin, pulled: PulledImage, old: Instance): Promise<void> {
    const app = this.app;
    const { config } = this.ctx;
    const limits = config.limits;
    const from = { pin: app.pin, resolved: app.resolved, pulled: old.image };
    let mode = old.image.config.handover.mode;
    if (mode !== 'exclusive' && (old.image.config.network === 'host' || pulled.config.network === 'host')) {
      // Two versions on the host's network cannot listen on the same port at once.
      mode = 'exclusive';
      this.step('host network: the old version is stopped before the new one starts (exclusive)');
    }
    const dataDir = old.image.config.data || pulled.config.data ? app.dataDir : null;
    const snapshot = snapshotPathOf(config, this.name);
    let journal: JournalEntry = {
      app: this.name, step: 'preparing', from: from.pin, to: pin, mode, snapshot: null, fingerprint: null, reason: null, at: new Date().toISOString(),
    };
    const gap = deferred();
    let candidate: Instance | null = null;
    let network: AppNetwork | null = null;
    let oldStopped = false;
    let switched = false;
    app.updating = true;
    try {
      await this.ctx.store.writeJournal(journal);
      this.status('preparing', { pendingVersion: pin.version });
      this.step(`${old.version} → ${pin.version}: preparing (hand-over ${mode})`);
      // Space first: a refusal must come before the old version is touched.
      if (dataDir) await checkSnapshotSpace(dataDir, join(config.dataRoot, '.snapshots'), limits.snapshotReserveBytes);
      if (mode === 'signal') {
        const timeoutMs = old.image.config.handover.timeoutSeconds * 1000;
        const ack = app.logs.waitFor((line) => line.trim() === HANDOVER_ACK, timeoutMs);
        await old.signal('USR1');
        this.step((await ack) ? `${old.version} acknowledged the hand-over` : `no hand-over acknowledgement from ${old.version} within ${timeoutMs} ms: going on`);
      } else if (mode === 'exclusive') {
        app.holdConnections(gap.promise);
        app.retire(old);
        app.showState('starting');
        this.step(`exclusive: new connections wait; ${old.version} drains and stops`);
        await this.drainAndStop(old);
        oldStopped = true;
      }
      if (dataDir) {
        // The old version, if it still runs, is paused while /data is copied: the copy is consistent (no file
        // half-written) and the app cannot swap a folder for a symlink under the copy (which runs as root).
        // Its connections wait meanwhile; with copy-on-write this takes milliseconds.
        const pause = !oldStopped;
        if (pause) await old.pause();
        let fingerprint: string;
        try {
          fingerprint = await takeSnapshot(dataDir, snapshot);
        } finally {
          if (pause) await old.resume();
        }
        journal = { ...journal, step: 'snapshotted', snapshot, fingerprint };
        await this.ctx.store.writeJournal(journal);
        this.step(`/data snapshotted`);
      }
      this.checkOpen();
      this.status('starting', { pendingVersion: pin.version });
      network = mode === 'exclusive' ? app.network : await this.ctx.newNetwork(this.name);
      this.step(`starting ${pin.version}${mode === 'exclusive' ? '' : ` beside ${old.version}`}`);
      candidate = await app.startCandidate(pulled, pin, network, limits.updateStartTimeoutMs);
      this.checkOpen();
      this.status('switching', { pendingVersion: pin.version });
      journal = { ...journal, step: 'switched', at: new Date().toISOString() };
      await this.ctx.store.writeJournal(journal);
      if (candidate.exitCode !== null) throw new BootosError('APP_CRASHED', `${pin.version} exited with status ${candidate.exitCode} right after it was ready`);
      const oldNetwork = app.network;
      app.setTarget(resolved, pin, pulled);
      app.network = network;
      app.switchTo(candidate);
      // From the switch on, an exit of the new version is the update's to handle (a rollback), not a crash to restart.
      const probation = this.probation(candidate);
      switched = true;
      gap.resolve();
      this.step(`new connections go to ${pin.version} (ready in ${Date.now() - candidate.startedAt} ms)`);
      if (!oldStopped) {
        app.retire(old);
        await this.drainAndStop(old);
        oldStopped = true;
        if (oldNetwork !== network) await this.ctx.releaseNetwork(oldNetwork);
      }
      const exit = await Promise.race([probation.exited, sleep(limits.updateGraceMs).then(() => null)]);
      probation.end();
      if (exit !== null) throw new BootosError('APP_CRASHED', `${pin.version} exited with status ${exit} within ${limits.updateGraceMs} ms of the switch`);
      journal = { ...journal, step: 'committed', at: new Date().toISOString() };
      await this.ctx.store.writeJournal(journal);
      if (dataDir) await dropSnapshot(snapshot);
      await this.ctx.store.clearJournal(this.name);
      this.step(`done: ${pin.version} serves`);
      this.status('done', { version: pin.version });
    } catch (err) {
      if (app.closed) {
        this.step('the agent is stopping: the update is finished at its next start');
        return;
      }
      const e = asBootosError(err, 'APP_START_FAILED');
      await this.rollback({ journal, from, old, oldStopped, candidate, network, switched, dataDir, snapshot, reason: e });
      // Not the version's fault: tried again at the next channel check (space may have been freed).
      if (e.code === 'UPDATE_NO_SPACE') this.retryOffer = { digest: pin.digest, size: pin.size, version: pin.version };
    } finally {
      gap.resolve();
      app.updating = false;
    }
  }

  /** Lets the open connections of `old` finish (up to updateDrainTimeoutMs), then stops it. */
  private async drainAndStop(old: Instance): Promise<void> {
    const limit = this.ctx.config.limits.updateDrainTimeoutMs;
    const t0 = Date.now();
    const drained = await old.drained(limit, this.ctx.config.limits.updateIdleCloseMs);
    const t1 = Date.now();
    await this.app.stopInstance(old);
    const how = drained ? `drained in ${t1 - t0} ms` : `${old.connections} connection(s) still open after ${limit} ms`;
    this.step(`${old.version} ${how}, stopped in ${Date.now() - t1} ms`);
  }

  private checkOpen(): void {
    if (this.app.closed) throw new BootosError('APP_STATE', `${this.name}: the agent is stopping`);
  }

  /**
   * Watches the new version after the switch: `exited` resolves with its status if it exits unasked; from that
   * moment connections wait (rather than start the failed version again) until the rollback is done.
   */
  private probation(instance: Instance): { exited: Promise<number>; end(): void } {
    let resolveExit!: (code: number) => void;
    const exited = new Promise<number>((resolve) => (resolveExit = resolve));
    instance.onUnexpectedExit = () => {
      this.rollbackGate = deferred();
      this.app.holdConnections(this.rollbackGate.promise);
      void instance.container.exited.then((status) => resolveExit(status.code));
    };
    return { exited, end: () => (instance.onUnexpectedExit = null) };
  }

  private async rollback(s: {
    journal: JournalEntry;
    from: { pin: Pin; resolved: ResolvedImage; pulled: PulledImage };
    old: Instance;
    oldStopped: boolean;
    candidate: Instance | null;
    network: AppNetwork | null;
    switched: boolean;
    dataDir: string | null;
    snapshot: string;
    reason: BootosError;
  }): Promise<void> {
    const app = this.app;
    const to = s.journal.to;
    this.status('rolling-back', { pendingVersion: to.version, error: { code: s.reason.code, message: s.reason.message } });
    this.step(`${to.version} failed (${s.reason.code}: ${s.reason.message}): rolling back to ${s.from.pin.version}`);
    const restart = deferred();
    if (!this.rollbackGate && (s.oldStopped || s.switched)) app.holdConnections(restart.promise);
    try {
      await this.ctx.store.writeJournal({ ...s.journal, step: 'rolling-back', reason: { code: s.reason.code, message: s.reason.message }, at: new Date().toISOString() });
      const oldAlive = !s.oldStopped && s.old.exitCode === null;
      if (oldAlive && app.current !== s.old) app.switchTo(s.old);
      if (oldAlive && s.journal.mode === 'signal') {
        // The old version prepared for a hand-over that does not happen: it carries on (writes allowed again).
        await s.old.signal('USR2').catch((err) => this.step(`SIGUSR2 to ${s.old.version}: ${(err as Error).message}`));
      }
      const candidate = s.candidate;
      if (candidate && candidate.exitCode === null) {
        app.retire(candidate);
        candidate.onUnexpectedExit = null;
        await app.stopInstance(candidate, 0);
      }
      if (s.dataDir && s.journal.snapshot && s.journal.fingerprint) {
        const now = await dataFingerprint(s.dataDir);
        if (now !== s.journal.fingerprint) {
          if (oldAlive) {
            // The old version has /data mounted: restore in place while it is paused, so it never sees a mix.
            await s.old.pause();
            try {
              await restoreInPlace(s.snapshot, s.dataDir);
            } finally {
              await s.old.resume();
            }
          } else {
            await restoreBySwap(s.snapshot, s.dataDir);
          }
          this.step(`/data restored from the snapshot (${to.version} had changed it)`);
        } else {
          this.step('/data unchanged by the new version: kept');
        }
      }
      await dropSnapshot(s.snapshot);
      app.setTarget(s.from.resolved, s.from.pin, s.from.pulled);
      if (oldAlive) {
        app.network = s.old.network;
        if (s.network && s.network !== s.old.network) await this.ctx.releaseNetwork(s.network);
      } else {
        // Stopped (exclusive, or after the switch): started again, on the network the app has now.
        this.step(`starting ${s.from.pin.version} again`);
        await app.restart().catch((err) => this.step(`${s.from.pin.version} did not start again: ${(err as Error).message}`));
      }
      const versionsFault = s.reason.code !== 'UPDATE_NO_SPACE';
      if (versionsFault) await this.remember(to, s.reason.code, s.reason.message);
      await this.ctx.store.clearJournal(this.name);
      this.step(`rolled back: ${s.from.pin.version} serves; ${to.version} ${versionsFault ? 'is not tried again' : 'is tried again at the next channel check'}`);
      this.status('failed', { pendingVersion: to.version, error: { code: s.reason.code, message: s.reason.message, version: to.version, digest: to.digest } });
    } finally {
      restart.resolve();
      this.rollbackGate?.resolve();
      this.rollbackGate = null;
    }
  }
}

function asBootosError(err: unknown, fallback: ErrorCode): BootosError {
  return isBootosError(err) ? err : new BootosError(fallback, (err as Error).message, { cause: err });
}
