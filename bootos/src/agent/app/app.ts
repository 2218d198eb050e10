// One app of the device's profile: its state machine (below), its connections and idle policy, the actions the API
// may ask for (canDo) and the primitives hot updates use (the `update API` section). Its container runs and the switch
// that says which instance gets new connections are in runs.ts; bringing it up (one pull, one start or thaw shared by
// every caller) in starter.ts. A hot update (hot-update.ts) starts a second instance beside the routed one (a
// `candidate`, in a network namespace of its own), moves the route to it and retires the old one; an update never
// changes the app's state machine by itself: the app stays `running` while one version or the other serves.
//
//   available ──pull──▶ downloading ──▶ cached ──start──▶ starting ──ready──▶ running ──idle/stop──▶ stopping ─▶ stopped
//                                                           ▲                  │  ▲                                 │
//                                                           │            freeze│  │thaw (next connection)           │
//                                                           │                  ▼  │                                 │
//                                                           │                 frozen                                │
//                                                           └──────────── next connection / POST start ◀────────────┘
//   An unexpected exit (crash, OOM kill) → stopped with `error`, restarted by the next connection; crashLoopCount exits
//   within crashWindowMs → failed: connections are refused until the backoff has passed (or POST start).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BootosError, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { ImageConfig, PortSpec } from '../../../../fetcher/src/formats/image-config.js';
import type { ResolvedImage } from '../../../../fetcher/src/trust/resolve.js';
import type { ProfileApp } from '../../../../fetcher/src/formats/trust-docs.js';
import type { PulledImage } from '../../../../fetcher/src/store/pull.js';
import type { AppNetwork } from '../runtime/network.js';
import type { Pin } from '../update/journal.js';
import { CrashPolicy, exitFailure } from './crash-policy.js';
import { IdleTimer, idlePolicy, type IdlePolicy } from './idle.js';
import type { Endpoint, Instance } from './instance.js';
import { LogRing } from './logs.js';
import { Runs } from './runs.js';
import { Starter } from './starter.js';
import type { AppAction, AppContext, AppError, AppState } from './state.js';

export type { AppAction, AppContext, AppError, AppState } from './state.js';

export class App {
  state: AppState = 'available';
  progress: { doneBytes: number; totalBytes: number } | null = null;
  error: AppError | null = null;
  connections = 0;
  lastActiveAt = Date.now();
  starts = 0;
  /** Public port per port name, once listening. */
  readonly publicPorts = new Map<string, number>();
  readonly logs: LogRing;

  /** The update's status as /api/apps shows it (owned by the updater). */
  update: Record<string, unknown> & { state: string } = { state: 'idle', pendingVersion: null, error: null };
  /** An update is between its first and last step: idle actions and API stop/freeze wait. */
  updating = false;
  /** Set at agent shutdown: nothing starts any more. */
  closed = false;

  /** The container runs: live instances, the one routed, the gate connections wait for. */
  readonly runs: Runs;
  private readonly idle = new IdleTimer();
  private readonly crashPolicy: CrashPolicy;
  private readonly starter: Starter;

  constructor(
    /** The version the app runs, or runs at its next start. Changed only by `setTarget()` (updates). */
    public resolved: ResolvedImage,
    public pin: Pin,
    readonly entry: ProfileApp,
    /** The network namespace of the next start (an update may hand the app another one). */
    public network: AppNetwork,
    private readonly ctx: AppContext,
  ) {
    this.logs = new LogRing(ctx.config.limits.logLines, ctx.config.debug ? (line) => process.stderr.write(`[${this.name}] ${line}\n`) : undefined);
    this.crashPolicy = new CrashPolicy(ctx.config.limits);
    this.runs = new Runs({
      config: ctx.config,
      runc: ctx.runc,
      agentId: ctx.agentId,
      app: this.name,
      dataVolume: (size) => ctx.dataVolume(this.name, size),
      hostNetworkAllowed: entry.hostNetwork === true,
      display: entry.display === true,
      logs: this.logs,
      runtimeBinds: () => ctx.runtimeBinds(),
      screenDevices: (devices) => ctx.screenDevices(devices),
      screenUp: (address) => ctx.screenUp(address),
      step: (message) => ctx.step(this.name, message),
      exited: (instance, code, oom, wasReady) => this.onExit(instance, code, oom, wasReady),
    });
    this.starter = new Starter(this, ctx, this.crashPolicy);
  }

  get name(): string {
    return this.resolved.name;
  }

  get image(): ImageConfig {
    return this.resolved.config;
  }

  get idlePolicy(): IdlePolicy {
    // The screen has no connections to count: it is never stopped as idle (0: no idle timer, as the API shows it).
    if (this.entry.display) return { afterSeconds: 0, action: 'stop' };
    return idlePolicy(this.image.idle, this.entry);
  }

  get idleRemainingSeconds(): number | null {
    return this.idle.remainingSeconds();
  }

  /** Whether `action` may be asked for in the app's current state; if not, why (the API answers APP_STATE with it). */
  canDo(action: AppAction): { ok: true } | { ok: false; reason: string } {
    const no = (reason: string) => ({ ok: false as const, reason });
    if (this.updating && action !== 'start') return no(`${this.name} is being updated (${this.update.state})`);
    if (action === 'stop' && !['starting', 'running', 'frozen', 'stopping'].includes(this.state)) return no(`${this.name} is ${this.state}: nothing to stop`);
    if (action === 'freeze' && !(this.state === 'running' && this.connections === 0) && this.state !== 'frozen') {
      return no(`${this.name} is ${this.state} with ${this.connections} open connection(s): only an idle running app can be frozen`);
    }
    return { ok: true };
  }

  /** Looks at the store once at start-up: an image pulled before is `cached`. */
  async init(): Promise<void> {
    if (await this.ctx.isCached(this.resolved.manifestDescriptor.digest)) this.setState('cached');
  }

  private setState(state: AppState): void {
    if (this.state === state) return;
    this.state = state;
    this.ctx.changed();
  }

  /** The error /api/apps shows (a failed download, a crash, an OOM kill). */
  fail(code: ErrorCode, message: string, extra: Partial<AppError> = {}): AppError {
    this.error = { code, message, ...extra, at: new Date().toISOString() };
    return this.error;
  }

  // ── connections ────────────────────────────────────────────────────────────────────────────────────────────────

  /** A new connection to one of the app's ports: make sure it runs (pull, start or thaw), then say where to go. */
  async open(port: PortSpec): Promise<Endpoint> {
    this.connections++;
    this.idle.cancel();
    this.ctx.changed();
    try {
      // The routed instance can change while a start or a thaw is awaited (an update's switch): look again.
      for (let attempt = 0; attempt < 5; attempt++) {
        await this.ensureRunning('connection');
        const endpoint = this.runs.connect(port);
        if (endpoint) return endpoint;
      }
      throw new BootosError('APP_START_FAILED', `${this.name}: no instance to route the connection to`);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** A connection closed (`endpoint`: where it went, if it got that far). */
  close(endpoint?: Endpoint): void {
    endpoint?.instance?.release(endpoint.connection);
    this.connections = Math.max(0, this.connections - 1);
    this.lastActiveAt = Date.now();
    if (this.connections === 0) this.armIdle();
    this.ctx.changed();
  }

  private armIdle(): void {
    const { afterSeconds, action } = this.idlePolicy;
    if (afterSeconds <= 0 || this.state !== 'running') return;
    this.idle.arm(afterSeconds * 1000, () => {
      if (this.connections > 0 || this.state !== 'running') return;
      if (this.updating) return this.armIdle(); // not in the middle of an update: try again later
      this.ctx.step(this.name, `idle for ${afterSeconds} s: ${action}`);
      const act = action === 'freeze' ? this.freeze() : this.stop();
      act.catch((err) => this.ctx.step(this.name, `idle ${action} failed: ${(err as Error).message}`));
    });
  }

  // ── the state machine ──────────────────────────────────────────────────────────────────────────────────────────

  /** Running after this resolves; concurrent callers share one pull and one start (or one thaw). */
  ensureRunning(why: 'connection' | 'api' | 'prefetch' = 'connection'): Promise<void> {
    return this.starter.ensureRunning(why);
  }

  /** Downloads the image without starting it (profile `prefetch`). */
  prefetch(): Promise<void> {
    return this.starter.prefetch();
  }

  /** A start of the target version passed its readiness check (Starter): the app runs it. */
  started(instance: Instance): void {
    this.starts++;
    this.error = null;
    this.runs.route(instance);
    this.setState('running');
    this.ctx.step(this.name, `running ${instance.version} (${Date.now() - instance.startedAt} ms to ready)`);
    this.ctx.served(this.name, instance.pin);
    if (this.connections === 0) this.armIdle();
  }

  /** Where the app's /data lives on the device. */
  get dataDir(): string {
    return join(this.ctx.config.dataRoot, this.name);
  }

  /** A run exited and was cleaned up (Runs): a stop, a crash or an OOM kill of the serving instance moves the state. */
  private async onExit(instance: Instance, code: number, oom: number, wasReady: boolean): Promise<void> {
    const limits = this.ctx.config.limits;
    if (instance.role !== 'serving' || instance.onUnexpectedExit) {
      this.logs.add(`── ${instance.version} (${instance.role}) exited with status ${code}`);
      return; // the updater's business
    }
    if (this.runs.current) return; // another instance serves: nothing changes for the app
    this.idle.cancel();
    if (instance.stopping && !(oom > 0)) {
      this.logs.add(`── stopped (status ${code})`);
      this.ctx.step(this.name, `stopped (status ${code})`);
      this.crashPolicy.stopped(instance.startedAt);
      this.setState('stopped');
      return;
    }
    // Not asked for: a crash or an OOM kill. Confined to this app; the next connection restarts it.
    const logTail = this.logs.tail(limits.logTailLines);
    const failure = exitFailure({ app: this.name, code, oom, memoryBytes: instance.image.config.resources.memoryBytes, wasReady });
    this.fail(failure.code, failure.message, { exitCode: code, logTail });
    this.logs.add(`── ${this.error!.code}: ${this.error!.message}`);
    this.ctx.step(this.name, this.error!.message);
    const loop = this.crashPolicy.crashed();
    if (loop) {
      this.ctx.step(this.name, `crash loop (${loop.exits} exits in ${Math.round(limits.crashWindowMs / 1000)} s): failed, next try in ${Math.round(loop.backoffMs / 1000)} s`);
      this.setState('failed');
    } else {
      this.setState('stopped');
    }
    // No connection will start the screen again: the display app restarts by itself, after the backoff of a loop.
    if (this.entry.display) this.restartScreen(loop ? loop.backoffMs : limits.crashBackoffMinMs);
  }

  private restartTimer: NodeJS.Timeout | null = null;

  /** The display app again after `delayMs`, unless something else started or stopped it meanwhile. */
  private restartScreen(delayMs: number): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state !== 'stopped' && this.state !== 'failed') return;
      this.ctx.step(this.name, 'restarting the screen');
      this.ensureRunning('api').catch((err) => {
        this.ctx.step(this.name, `screen restart failed: ${(err as Error).message}`);
        this.restartScreen(Math.max(this.crashPolicy.waitMs(), this.ctx.config.limits.crashBackoffMinMs));
      });
    }, delayMs);
    this.restartTimer.unref();
  }

  // ── API actions ────────────────────────────────────────────────────────────────────────────────────────────────

  /** POST start: also clears a crash-loop backoff (someone asked for it explicitly). */
  async start(): Promise<void> {
    this.crashPolicy.clear();
    await this.ensureRunning('api');
    if (this.connections === 0) this.armIdle();
  }

  /** SIGTERM, the grace period, SIGKILL; resolves once the container is gone. */
  async stop(): Promise<void> {
    const starting = this.starter.starting;
    if (starting) await starting.catch(() => {});
    const instances = this.runs.live();
    if (instances.length === 0) return;
    this.idle.cancel();
    this.setState('stopping');
    this.ctx.step(this.name, 'stopping');
    await Promise.all(instances.map((i) => this.runs.stop(i)));
  }

  /** runc pause: the app keeps its memory but gets no CPU until the next connection thaws it. */
  async freeze(): Promise<void> {
    if (this.updating) throw new BootosError('APP_STATE', `${this.name} is being updated`);
    const starting = this.starter.starting;
    if (starting) await starting;
    const instance = this.runs.current;
    if (this.state === 'frozen') return;
    if (!instance || this.state !== 'running') throw new BootosError('APP_STATE', `${this.name} is ${this.state}, not running`);
    if (this.connections > 0) throw new BootosError('APP_STATE', `${this.name} has ${this.connections} open connection(s)`);
    this.idle.cancel();
    await this.starter.freeze(instance); // connections that arrive meanwhile wait for it, then thaw
    this.ctx.step(this.name, 'frozen');
  }

  // ── update API (hot-update.ts) ─────────────────────────────────────────────────────────────────────────────────

  /** Settles once no start, thaw or stop is under way. */
  quiesce(): Promise<void> {
    return this.starter.quiesce();
  }

  /** From now on the app runs this version (at its next start; a running instance is the updater's to replace). */
  setTarget(resolved: ResolvedImage, pin: Pin, pulled: PulledImage | null): void {
    this.resolved = resolved;
    this.pin = pin;
    this.starter.setPulled(pulled);
    this.ctx.changed();
  }

  /** A frozen app: its next connection stops it and starts the target version. */
  restartAtNextConnection(): void {
    this.starter.restartAtNextConnection();
  }

  /** The switch of a hot update: `instance` serves, the app is running. */
  switchTo(instance: Instance): void {
    instance.role = 'serving';
    this.runs.route(instance);
    this.setState('running');
    this.ctx.served(this.name, instance.pin);
    if (this.connections === 0) this.armIdle();
  }

  /**
   * The app's state as its Starter moves it (downloading, starting, …) and while an update replaces what runs (e.g.
   * `starting` in an exclusive hand-over's gap).
   */
  showState(state: AppState): void {
    this.setState(state);
  }

  /** Starts the target version as the app would for a connection (a rollback that resumes the old version). */
  restart(): Promise<void> {
    return this.starter.restart();
  }

  // ── reporting ──────────────────────────────────────────────────────────────────────────────────────────────────

  toJSON(): Record<string, unknown> {
    const first = this.image.ports[0];
    return {
      name: this.name,
      description: this.image.description,
      version: this.image.version,
      digest: this.resolved.digest,
      state: this.state,
      progress: this.state === 'downloading' ? this.progress ?? { doneBytes: 0, totalBytes: 0 } : null,
      port: first ? this.publicPorts.get(first.name) ?? null : null,
      ports: this.image.ports.map((p) => ({ name: p.name, port: this.publicPorts.get(p.name) ?? null, appPort: p.port })),
      idle: { ...this.idlePolicy, remainingSeconds: this.idle.remainingSeconds() },
      connections: this.connections,
      starts: this.starts,
      error: this.error,
      update: { ...this.update, runningVersion: this.runs.current && !this.runs.current.stopping ? this.runs.current.version : null },
    };
  }

  /** Container ids of this app's live instances (tests and shutdown). */
  containerIds(): string[] {
    return this.runs.live().map((i) => i.id);
  }
}

export function newAgentId(): string {
  return randomBytes(3).toString('hex');
}
