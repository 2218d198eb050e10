// One hot update of a running app (one object per attempt, its state in fields): prepare → start → switch, or roll
// back. The steps, with the journal entry each one writes so that a kill can be finished at the next start:
//
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
import { join } from 'node:path';
import { BootosError, deviceFailure, errnoCode, isBootosError, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { ResolvedImage } from '../../../../fetcher/src/trust/resolve.js';
import type { PulledImage } from '../../../../fetcher/src/store/pull.js';
import type { App } from '../app/app.js';
import type { Instance } from '../app/instance.js';
import type { AgentConfig } from '../config.js';
import type { JournalEntry, Pin, UpdateStore } from './journal.js';
import type { AppNetwork } from '../runtime/network.js';
import { checkSnapshotSpace, dataFingerprint, dropSnapshot, restoreData, restoreInPlace, snapshotPathOf, takeSnapshot } from './snapshot.js';

/**
 * The line an app with `handover: signal` prints on stdout once it has flushed its data after SIGUSR1. If the update
 * then fails while the app still runs, it gets SIGUSR2: the hand-over is off, it carries on as before.
 */
export const HANDOVER_ACK = 'bootos: handover-ready';

import type { UpdateState } from '../api/states.js';

export type { UpdateState };

/** What an attempt needs from the agent and from the app's Updater. */
export interface HotUpdateContext {
  config: AgentConfig;
  store: UpdateStore;
  newNetwork(app: string): Promise<AppNetwork>;
  releaseNetwork(network: AppNetwork): Promise<void>;
  /** The update's status as /api/apps shows it. */
  status(state: UpdateState, fields?: Record<string, unknown>): void;
  step(message: string): void;
  /** The version failed here: never tried again automatically. */
  remember(pin: Pin, code: ErrorCode, message: string): Promise<void>;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

/** Any failure as a coded one: a full disk met by the agent (ENOSPC, the store's NO_SPACE) is DATA_FULL. */
export function asBootosError(err: unknown, fallback: ErrorCode): BootosError {
  const errno = errnoCode(err);
  if (isBootosError(err, 'NO_SPACE') || errno === 'ENOSPC' || errno === 'EDQUOT') return deviceFailure(err, 'the agent', fallback);
  return isBootosError(err) ? err : new BootosError(fallback, (err as Error).message, { cause: err });
}

/** Failures of the device, not of the version: the same version is tried again at the next channel check. */
export function isDeviceFault(code: ErrorCode): boolean {
  return code === 'UPDATE_NO_SPACE' || code === 'DATA_FULL' || code === 'NO_SPACE';
}

export class HotUpdate {
  private readonly from: { pin: Pin; resolved: ResolvedImage; pulled: PulledImage };
  private readonly mode: JournalEntry['mode'];
  private readonly dataDir: string | null;
  private readonly snapshot: string;
  private journal: JournalEntry;
  /** Held by connections in an exclusive hand-over's gap (the old version stopped, the new one not ready). */
  private readonly gap = deferred();
  private candidate: Instance | null = null;
  private network: AppNetwork | null = null;
  private oldStopped = false;
  private switched = false;
  /** Held by connections while a rollback after the switch brings the old version back. */
  private rollbackGate: Deferred | null = null;

  constructor(
    private readonly app: App,
    private readonly ctx: HotUpdateContext,
    private readonly resolved: ResolvedImage,
    private readonly pin: Pin,
    private readonly pulled: PulledImage,
    private readonly old: Instance,
  ) {
    this.from = { pin: app.pin, resolved: app.resolved, pulled: old.image };
    let mode = old.image.config.handover.mode;
    if (mode !== 'exclusive' && (old.image.config.network === 'host' || pulled.config.network === 'host')) {
      // Two versions on the host's network cannot listen on the same port at once.
      mode = 'exclusive';
      ctx.step('host network: the old version is stopped before the new one starts (exclusive)');
    } else if (mode !== 'exclusive' && app.entry.display) {
      // One compositor at a time holds the screen (DRM master); the new one is healthy once its kiosk is up.
      mode = 'exclusive';
      ctx.step('the screen: the old version is stopped before the new one starts (exclusive)');
    }
    this.mode = mode;
    this.dataDir = old.image.config.data || pulled.config.data ? app.dataDir : null;
    this.snapshot = snapshotPathOf(ctx.config, app.name);
    this.journal = {
      app: app.name, step: 'preparing', from: this.from.pin, to: pin, mode, snapshot: null, fingerprint: null, reason: null, at: new Date().toISOString(),
    };
  }

  /**
   * Runs the attempt to its end (the new version serves, or the old one again). Resolves with true if the version
   * failed for the device's reasons (no space), not its own: it is tried again at the next channel check.
   */
  async run(): Promise<boolean> {
    const app = this.app;
    app.updating = true;
    try {
      await this.prepare();
      this.checkOpen();
      await this.start();
      this.checkOpen();
      await this.switch();
      return false;
    } catch (err) {
      if (app.closed) {
        this.ctx.step('the agent is stopping: the update is finished at its next start');
        return false;
      }
      const e = asBootosError(err, 'APP_START_FAILED');
      await this.rollback(e);
      // Not the version's fault: tried again at the next channel check (space may have been freed).
      return isDeviceFault(e.code);
    } finally {
      this.gap.resolve();
      app.updating = false;
    }
  }

  private async prepare(): Promise<void> {
    const { app, old, pin, mode, dataDir } = this;
    const limits = this.ctx.config.limits;
    await this.ctx.store.writeJournal(this.journal);
    this.ctx.status('preparing', { pendingVersion: pin.version });
    this.ctx.step(`${old.version} → ${pin.version}: preparing (hand-over ${mode})`);
    // Space first: a refusal must come before the old version is touched.
    if (dataDir) await checkSnapshotSpace(dataDir, join(this.ctx.config.dataRoot, '.snapshots'), limits.snapshotReserveBytes);
    if (mode === 'signal') {
      const timeoutMs = old.image.config.handover.timeoutSeconds * 1000;
      const ack = app.logs.waitFor((line) => line.trim() === HANDOVER_ACK, timeoutMs);
      await old.signal('USR1');
      this.ctx.step((await ack) ? `${old.version} acknowledged the hand-over` : `no hand-over acknowledgement from ${old.version} within ${timeoutMs} ms: going on`);
    } else if (mode === 'exclusive') {
      app.runs.hold(this.gap.promise);
      app.runs.retire(old);
      app.showState('starting');
      this.ctx.step(`exclusive: new connections wait; ${old.version} drains and stops`);
      await this.drainAndStop(old);
      this.oldStopped = true;
    }
    if (dataDir) {
      // The old version, if it still runs, is paused while /data is copied: the copy is consistent (no file
      // half-written) and the app cannot swap a folder for a symlink under the copy (which runs as root).
      // Its connections wait meanwhile; with copy-on-write this takes milliseconds.
      const pause = !this.oldStopped;
      if (pause) await old.pause();
      let fingerprint: string;
      try {
        fingerprint = await takeSnapshot(dataDir, this.snapshot);
      } finally {
        if (pause) await old.resume();
      }
      this.journal = { ...this.journal, step: 'snapshotted', snapshot: this.snapshot, fingerprint };
      await this.ctx.store.writeJournal(this.journal);
      this.ctx.step(`/data snapshotted`);
    }
  }

  private async start(): Promise<void> {
    const { app, old, pin, mode } = this;
    this.ctx.status('starting', { pendingVersion: pin.version });
    this.network = mode === 'exclusive' ? app.network : await this.ctx.newNetwork(app.name);
    this.ctx.step(`starting ${pin.version}${mode === 'exclusive' ? '' : ` beside ${old.version}`}`);
    this.candidate = await app.runs.startCandidate(this.pulled, pin, this.network, this.ctx.config.limits.updateStartTimeoutMs);
  }

  private async switch(): Promise<void> {
    const { app, old, pin, dataDir } = this;
    const candidate = this.candidate!;
    const network = this.network!;
    const limits = this.ctx.config.limits;
    this.ctx.status('switching', { pendingVersion: pin.version });
    this.journal = { ...this.journal, step: 'switched', at: new Date().toISOString() };
    await this.ctx.store.writeJournal(this.journal);
    if (candidate.exitCode !== null) throw new BootosError('APP_CRASHED', `${pin.version} exited with status ${candidate.exitCode} right after it was ready`);
    const oldNetwork = app.network;
    app.setTarget(this.resolved, pin, this.pulled);
    app.network = network;
    app.switchTo(candidate);
    // From the switch on, an exit of the new version is the update's to handle (a rollback), not a crash to restart.
    const probation = this.probation(candidate);
    this.switched = true;
    this.gap.resolve();
    this.ctx.step(`new connections go to ${pin.version} (ready in ${Date.now() - candidate.startedAt} ms)`);
    if (!this.oldStopped) {
      app.runs.retire(old);
      await this.drainAndStop(old);
      this.oldStopped = true;
      if (oldNetwork !== network) await this.ctx.releaseNetwork(oldNetwork);
    }
    const exit = await Promise.race([probation.exited, sleep(limits.updateGraceMs).then(() => null)]);
    probation.end();
    if (exit !== null) throw new BootosError('APP_CRASHED', `${pin.version} exited with status ${exit} within ${limits.updateGraceMs} ms of the switch`);
    this.journal = { ...this.journal, step: 'committed', at: new Date().toISOString() };
    await this.ctx.store.writeJournal(this.journal);
    if (dataDir) await dropSnapshot(this.snapshot);
    await this.ctx.store.clearJournal(app.name);
    this.ctx.step(`done: ${pin.version} serves`);
    this.ctx.status('done', { version: pin.version });
  }

  /** Lets the open connections of `old` finish (up to updateDrainTimeoutMs), then stops it. */
  private async drainAndStop(old: Instance): Promise<void> {
    const limit = this.ctx.config.limits.updateDrainTimeoutMs;
    const t0 = Date.now();
    const drained = await old.drained(limit, this.ctx.config.limits.updateIdleCloseMs);
    const t1 = Date.now();
    await this.app.runs.stop(old);
    const how = drained ? `drained in ${t1 - t0} ms` : `${old.connections} connection(s) still open after ${limit} ms`;
    this.ctx.step(`${old.version} ${how}, stopped in ${Date.now() - t1} ms`);
  }

  private checkOpen(): void {
    if (this.app.closed) throw new BootosError('APP_STATE', `${this.app.name}: the agent is stopping`);
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
      this.app.runs.hold(this.rollbackGate.promise);
      void instance.container.exited.then((status) => resolveExit(status.code));
    };
    return { exited, end: () => (instance.onUnexpectedExit = null) };
  }

  private async rollback(reason: BootosError): Promise<void> {
    const { app, old, from, journal, dataDir, snapshot } = this;
    const to = journal.to;
    this.ctx.status('rolling-back', { pendingVersion: to.version, error: { code: reason.code, message: reason.message } });
    this.ctx.step(`${to.version} failed (${reason.code}: ${reason.message}): rolling back to ${from.pin.version}`);
    const restart = deferred();
    if (!this.rollbackGate && (this.oldStopped || this.switched)) app.runs.hold(restart.promise);
    try {
      // A journal that cannot be written (a full disk) does not stop the rollback: the old version comes back.
      await this.ctx.store
        .writeJournal({ ...journal, step: 'rolling-back', reason: { code: reason.code, message: reason.message }, at: new Date().toISOString() })
        .catch((err) => this.ctx.step(`cannot journal the rollback (${asBootosError(err, 'AGENT_ERROR').code}): going on`));
      const oldAlive = !this.oldStopped && old.exitCode === null;
      if (oldAlive && app.runs.current !== old) app.switchTo(old);
      if (oldAlive && journal.mode === 'signal') {
        // The old version prepared for a hand-over that does not happen: it carries on (writes allowed again).
        await old.signal('USR2').catch((err) => this.ctx.step(`SIGUSR2 to ${old.version}: ${(err as Error).message}`));
      }
      const candidate = this.candidate;
      if (candidate && candidate.exitCode === null) {
        app.runs.retire(candidate);
        candidate.onUnexpectedExit = null;
        await app.runs.stop(candidate, 0);
      }
      if (dataDir && journal.snapshot && journal.fingerprint) {
        const now = await dataFingerprint(dataDir);
        if (now !== journal.fingerprint) {
          if (oldAlive) {
            // The old version has /data mounted: restore in place while it is paused, so it never sees a mix.
            await old.pause();
            try {
              await restoreInPlace(snapshot, dataDir);
            } finally {
              await old.resume();
            }
          } else {
            await restoreData(snapshot, dataDir);
          }
          this.ctx.step(`/data restored from the snapshot (${to.version} had changed it)`);
        } else {
          this.ctx.step('/data unchanged by the new version: kept');
        }
      }
      await dropSnapshot(snapshot);
      app.setTarget(from.resolved, from.pin, from.pulled);
      if (oldAlive) {
        app.network = old.network;
        if (this.network && this.network !== old.network) await this.ctx.releaseNetwork(this.network);
      } else {
        // Stopped (exclusive, or after the switch): started again, on the network the app has now.
        this.ctx.step(`starting ${from.pin.version} again`);
        await app.restart().catch((err) => this.ctx.step(`${from.pin.version} did not start again: ${(err as Error).message}`));
      }
      const versionsFault = !isDeviceFault(reason.code);
      if (versionsFault) await this.ctx.remember(to, reason.code, reason.message);
      await this.ctx.store.clearJournal(app.name).catch((err) => this.ctx.step(`cannot clear the journal: ${(err as Error).message}`));
      this.ctx.step(`rolled back: ${from.pin.version} serves; ${to.version} ${versionsFault ? 'is not tried again' : 'is tried again at the next channel check'}`);
      this.ctx.status('failed', { pendingVersion: to.version, error: { code: reason.code, message: reason.message, version: to.version, digest: to.digest } });
    } finally {
      restart.resolve();
      this.rollbackGate?.resolve();
      this.rollbackGate = null;
    }
  }
}
