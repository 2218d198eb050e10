// Bringing an app up: the target version's image pulled once, one start (or one thaw of the frozen instance) shared
// by every caller that needs the app running, the crash-loop backoff checked first. The state changes it causes are
// made through the app (StarterHost), which owns the state machine.
import { BootosError, deviceFailure, isBootosError, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { ImageConfig } from '../../../../fetcher/src/formats/image-config.js';
import type { ResolvedImage } from '../../../../fetcher/src/trust/resolve.js';
import type { PulledImage } from '../../../../fetcher/src/store/pull.js';
import type { AppNetwork } from '../runtime/network.js';
import type { Pin } from '../update/journal.js';
import type { CrashPolicy } from './crash-policy.js';
import type { Instance } from './instance.js';
import type { Runs } from './runs.js';
import type { AppContext, AppError, AppState } from './state.js';

/** What the starter reads and changes of its app. */
export interface StarterHost {
  readonly name: string;
  readonly state: AppState;
  readonly resolved: ResolvedImage;
  readonly pin: Pin;
  readonly network: AppNetwork;
  readonly image: ImageConfig;
  readonly closed: boolean;
  readonly runs: Runs;
  error: AppError | null;
  progress: { doneBytes: number; totalBytes: number } | null;
  showState(state: AppState): void;
  fail(code: ErrorCode, message: string): void;
  stop(): Promise<void>;
  /** `instance` passed its readiness check: the app runs it. */
  started(instance: Instance): void;
  /** From now on the app runs this version (the cached one it falls back on). */
  setTarget(resolved: ResolvedImage, pin: Pin, pulled: PulledImage | null): void;
}

export class Starter {
  private pulled: PulledImage | null = null;
  private pending: Promise<Instance> | null = null;
  /** A frozen app with a newer version pulled: its next connection stops it and starts the new version. */
  private restartOnNext = false;
  private thawing: Promise<void> | null = null;
  /** An idle freeze's `runc pause` under way: connections that arrive meanwhile wait for it, then thaw. */
  private freezing: Promise<void> | null = null;

  constructor(
    private readonly app: StarterHost,
    private readonly ctx: AppContext,
    private readonly crashPolicy: CrashPolicy,
  ) {}

  /** The start under way, if any. */
  get starting(): Promise<Instance> | null {
    return this.pending;
  }

  /** Running after this resolves; concurrent callers share one pull and one start (or one thaw). */
  async ensureRunning(why: 'connection' | 'api' | 'prefetch' = 'connection'): Promise<void> {
    const app = this.app;
    while (app.runs.held) await app.runs.held;
    // Never splice to an instance being paused: runc freezes it before the command returns, and a connection routed
    // in that window would wait for a thaw that nothing asks for. Wait until it is frozen, then thaw it below.
    while (this.freezing) await this.freezing.catch(() => {});
    if (app.closed) throw new BootosError('APP_STATE', `${app.name}: the agent is stopping`);
    if (this.thawing) return this.thawing;
    if (app.state === 'frozen' && app.runs.current && this.restartOnNext) {
      // A newer version was pulled while the app was frozen: this connection gets the new version.
      this.restartOnNext = false;
      this.ctx.step(app.name, `frozen on ${app.runs.current.version}: stopping it to start ${app.resolved.config.version}`);
      await app.stop();
    }
    if (app.state === 'frozen' && app.runs.current) {
      this.thawing = this.thaw().finally(() => (this.thawing = null));
      return this.thawing;
    }
    if (app.state === 'stopping') await Promise.all(app.runs.live().map((i) => i.done));
    if (app.runs.current && app.state === 'running') return;
    if (!this.pending) {
      const waitMs = this.crashPolicy.waitMs();
      if (app.state === 'failed' && why !== 'api' && waitMs > 0) {
        const seconds = Math.ceil(waitMs / 1000);
        throw new BootosError('APP_FAILED', `${app.name} keeps crashing; next try in ${seconds} s (${app.error?.message ?? ''})`);
      }
      this.pending = this.startInstance().finally(() => (this.pending = null));
    }
    await this.pending;
  }

  /** Downloads the image without starting it (profile `prefetch`). */
  async prefetch(): Promise<void> {
    await this.pullImage();
    if (this.app.state === 'available' || this.app.state === 'downloading') this.app.showState('cached');
  }

  private async pullImage(): Promise<PulledImage> {
    const app = this.app;
    if (this.pulled) return this.pulled;
    const cached = await this.ctx.isCached(app.resolved.manifestDescriptor.digest);
    if (!cached) {
      app.showState('downloading');
      this.ctx.step(app.name, `downloading ${app.image.version}`);
    }
    try {
      this.pulled = await this.ctx.pull(app.name, app.pin, (p) => {
        app.progress = { doneBytes: p.doneBytes, totalBytes: p.totalBytes };
        this.ctx.changed();
      });
    } catch (err) {
      app.progress = null;
      app.showState(cached ? 'cached' : 'available');
      const e = deviceFailure(err, `${app.name} ${app.pin.version}`, 'APP_START_FAILED');
      app.fail(e.code, `download failed: ${e.message}`);
      throw e;
    }
    app.progress = null;
    if (!cached) this.ctx.step(app.name, `downloaded ${app.image.version}`);
    const { skipped } = this.pulled;
    if (skipped.length) this.ctx.step(app.name, `skipped ${skipped.length} device node(s) of the image (the runtime provides /dev): ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', …' : ''}`);
    return this.pulled;
  }

  /**
   * The target version's image; when it cannot be pulled (its blobs are gone, the data root is full, the registry is
   * unreachable) and the version that last served well is still in the store, that one: the app starts on it and
   * its update is tried again later (AppContext.fellBack).
   */
  private async pullOrFallBack(): Promise<PulledImage> {
    const app = this.app;
    try {
      return await this.pullImage();
    } catch (err) {
      const failed = app.pin;
      const fallback = await this.ctx.cachedFallback(app.name, failed).catch(() => null);
      if (!fallback) throw err;
      const e = deviceFailure(err, `${app.name} ${failed.version}`, 'APP_START_FAILED');
      this.ctx.step(app.name, `${failed.version} cannot be pulled (${e.code}): starting on the cached ${fallback.pin.version}`);
      app.setTarget(fallback.resolved, fallback.pin, fallback.pulled);
      app.showState('cached');
      this.ctx.fellBack(app.name, failed, fallback.pin, { code: e.code, message: e.message });
      return fallback.pulled;
    }
  }

  private async startInstance(): Promise<Instance> {
    const app = this.app;
    const image = await this.pullOrFallBack();
    if (app.closed) throw new BootosError('APP_STATE', `${app.name}: the agent is stopping`);
    this.restartOnNext = false; // whatever starts now runs the target version
    app.showState('starting');
    this.ctx.step(app.name, `starting ${image.config.version}`);
    let ready = false;
    let instance: Instance;
    try {
      instance = await app.runs.spawn(image, app.pin, app.network, 'serving', this.ctx.config.limits.startTimeoutMs, () => ready);
    } catch (err) {
      // Not ready in time, or crashed while starting: the exit counted it as a failed run (crash-loop accounting).
      const failure = isBootosError(err) ? err : new BootosError('APP_START_FAILED', `${app.name}: ${(err as Error).message}`, { cause: err });
      if (failure.code === 'APP_START_FAILED' && app.error) app.error = { ...app.error, code: failure.code, message: failure.message };
      throw app.error ? new BootosError(app.error.code, app.error.message, { cause: err }) : failure;
    }
    ready = true;
    app.started(instance);
    return instance;
  }

  /** The freeze itself (App.freeze checked that it may): the instance is frozen, and the app, once runc pause returned. */
  freeze(instance: Instance): Promise<void> {
    this.freezing ??= (async () => {
      await instance.pause();
      instance.frozen = true;
      this.app.showState('frozen');
    })().finally(() => (this.freezing = null));
    return this.freezing;
  }

  private async thaw(): Promise<void> {
    const instance = this.app.runs.current!;
    await instance.resume();
    instance.frozen = false;
    this.app.showState('running');
    this.ctx.step(this.app.name, 'thawed');
  }

  // ── for updates ────────────────────────────────────────────────────────────────────────────────────────────────

  /** Settles once no start, thaw or stop is under way. */
  async quiesce(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      const waits = [this.pending, this.thawing, this.freezing, this.app.runs.held].filter((p): p is Promise<never> => p !== null);
      if (this.app.state === 'stopping') waits.push(...(this.app.runs.live().map((x) => x.done) as Promise<never>[]));
      if (waits.length === 0) return;
      await Promise.allSettled(waits);
    }
  }

  /** The image of the new target version, if an update pulled it already. */
  setPulled(pulled: PulledImage | null): void {
    this.pulled = pulled;
  }

  /** A frozen app: its next connection stops it and starts the target version. */
  restartAtNextConnection(): void {
    this.restartOnNext = true;
  }

  /** Starts the target version as the app would for a connection (a rollback that resumes the old version). */
  async restart(): Promise<void> {
    this.crashPolicy.clear();
    if (this.pending) await this.pending.catch(() => {});
    if (this.app.runs.current) return;
    this.pending = this.startInstance().finally(() => (this.pending = null));
    await this.pending;
  }
}
