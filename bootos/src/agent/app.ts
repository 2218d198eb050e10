// One app of the device's profile: its state machine, its container runs (instances) and the switch that says which
// instance gets new connections (`route`). Hot updates (issue 6) start a second instance and move `route` to it.
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
import { mkdir, rm, chown } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { BootosError, isBootosError, type ErrorCode } from '../../../fetcher/src/error.js';
import type { ImageConfig, PortSpec } from '../../../fetcher/src/image-config.js';
import type { ResolvedImage } from '../../../fetcher/src/resolve.js';
import type { ProfileApp } from '../../../fetcher/src/trust-docs.js';
import type { AgentConfig } from './config.js';
import { IdleTimer, idlePolicy, type IdlePolicy } from './idle.js';
import { LogRing } from './logs.js';
import type { AppNetwork } from './network.js';
import type { PulledImage, PullProgress } from '../../../fetcher/src/pull.js';
import { containerSpec, ensureMountPoints, oomKills, type Bind, type Runc, type RunningContainer } from './runtime.js';

export type AppState = 'available' | 'downloading' | 'cached' | 'starting' | 'running' | 'frozen' | 'stopping' | 'stopped' | 'failed';

export interface AppError {
  code: ErrorCode;
  message: string;
  exitCode?: number;
  logTail?: string[];
  at: string;
}

/** What an app needs from the agent. */
export interface AppContext {
  config: AgentConfig;
  runc: Runc;
  /** Unique per agent run: keeps container ids and cgroups apart from other agents on the machine. */
  agentId: string;
  pull(image: string, onProgress: (p: PullProgress) => void): Promise<PulledImage>;
  isCached(manifestDigest: string): Promise<boolean>;
  runtimeBinds(): Promise<Bind[]>;
  changed(): void;
  step(app: string, message: string): void;
}

/** One run of the app's container. */
export class Instance {
  stopping = false;
  frozen = false;
  readonly startedAt = Date.now();
  /** Settles after the container exited and was deleted. */
  done!: Promise<void>;

  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly cgroupsPath: string,
    readonly container: RunningContainer,
    readonly image: PulledImage,
  ) {}
}

export interface Endpoint {
  host: string;
  port: number;
}

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

  /** The instance that gets new connections. Only `route()` and `unroute()` change it. */
  private routed: Instance | null = null;
  private instances = new Set<Instance>();
  private pulled: PulledImage | null = null;
  private pending: Promise<Instance> | null = null;
  private thawing: Promise<void> | null = null;
  private readonly idle = new IdleTimer();
  private crashes: number[] = [];
  private failedUntil = 0;
  private backoffMs: number;
  private generation = 0;

  constructor(
    readonly resolved: ResolvedImage,
    readonly entry: ProfileApp,
    readonly network: AppNetwork,
    private readonly ctx: AppContext,
  ) {
    this.logs = new LogRing(ctx.config.limits.logLines, ctx.config.debug ? (line) => process.stderr.write(`[${this.name}] ${line}\n`) : undefined);
    this.backoffMs = ctx.config.limits.crashBackoffMinMs;
  }

  get name(): string {
    return this.resolved.name;
  }

  get image(): ImageConfig {
    return this.resolved.config;
  }

  get idlePolicy(): IdlePolicy {
    return idlePolicy(this.image.idle, this.entry);
  }

  get idleRemainingSeconds(): number | null {
    return this.idle.remainingSeconds();
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

  private fail(code: ErrorCode, message: string, extra: Partial<AppError> = {}): AppError {
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
      await this.ensureRunning('connection');
      return { host: this.network.host, port: port.port };
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** A connection closed. */
  close(): void {
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
      this.ctx.step(this.name, `idle for ${afterSeconds} s: ${action}`);
      const act = action === 'freeze' ? this.freeze() : this.stop();
      act.catch((err) => this.ctx.step(this.name, `idle ${action} failed: ${(err as Error).message}`));
    });
  }

  // ── the state machine ──────────────────────────────────────────────────────────────────────────────────────────

  /** Running after this resolves; concurrent callers share one pull and one start (or one thaw). */
  async ensureRunning(why: 'connection' | 'api' | 'prefetch' = 'connection'): Promise<void> {
    if (this.thawing) return this.thawing;
    if (this.state === 'frozen' && this.routed) {
      this.thawing = this.thaw().finally(() => (this.thawing = null));
      return this.thawing;
    }
    if (this.state === 'stopping') await Promise.all([...this.instances].map((i) => i.done));
    if (this.routed && this.state === 'running') return;
    if (!this.pending) {
      if (this.state === 'failed' && why !== 'api' && Date.now() < this.failedUntil) {
        const seconds = Math.ceil((this.failedUntil - Date.now()) / 1000);
        throw new BootosError('APP_FAILED', `${this.name} keeps crashing; next try in ${seconds} s (${this.error?.message ?? ''})`);
      }
      this.pending = this.startInstance().finally(() => (this.pending = null));
    }
    await this.pending;
  }

  /** Downloads the image without starting it (profile `prefetch`). */
  async prefetch(): Promise<void> {
    await this.pullImage();
    if (this.state === 'available' || this.state === 'downloading') this.setState('cached');
  }

  private async pullImage(): Promise<PulledImage> {
    if (this.pulled) return this.pulled;
    const cached = await this.ctx.isCached(this.resolved.manifestDescriptor.digest);
    if (!cached) {
      this.setState('downloading');
      this.ctx.step(this.name, `downloading ${this.image.version}`);
    }
    try {
      this.pulled = await this.ctx.pull(this.name, (p) => {
        this.progress = { doneBytes: p.doneBytes, totalBytes: p.totalBytes };
        this.ctx.changed();
      });
    } catch (err) {
      this.progress = null;
      this.setState(cached ? 'cached' : 'available');
      const e = err as Error;
      this.fail(isBootosError(err) ? err.code : 'APP_START_FAILED', `download failed: ${e.message}`);
      throw err;
    }
    this.progress = null;
    if (!cached) this.ctx.step(this.name, `downloaded ${this.image.version}`);
    return this.pulled;
  }

  private async startInstance(): Promise<Instance> {
    const image = await this.pullImage();
    const { limits } = this.ctx.config;
    const cfg = image.config;
    if (cfg.user.uid === 0) throw new BootosError('APP_START_FAILED', `${this.name}: apps never run as root (uid 0)`);
    this.setState('starting');
    this.ctx.step(this.name, `starting ${cfg.version}`);
    const n = ++this.generation;
    const id = `${this.ctx.agentId}-${this.name}-${n}`;
    const bundle = join(this.ctx.config.runDir, 'bundles', id);
    const cgroupsPath = `bootos/${id}`;
    let dataDir: string | null = null;
    if (cfg.data) {
      dataDir = join(this.ctx.config.dataRoot, this.name);
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      await chown(dataDir, cfg.user.uid, cfg.user.gid);
    }
    const runtimeBinds = cfg.runtime === 'node' ? await this.ctx.runtimeBinds() : [];
    await ensureMountPoints(image.rootfs, runtimeBinds, cfg.data?.path ?? null);
    const spec = containerSpec({
      config: cfg,
      rootfs: image.rootfs,
      hostname: this.name,
      dataDir,
      netnsPath: cfg.network === 'host' ? null : this.network.netnsPath,
      runtimeBinds,
      cgroupsPath,
      arch: this.ctx.config.arch,
      tmpBytes: limits.tmpBytes,
      maxOpenFiles: limits.maxOpenFiles,
      extraEnv: [`BOOTOS_APP=${this.name}`, `BOOTOS_IMAGE_VERSION=${cfg.version}`],
    });
    await this.ctx.runc.writeBundle(bundle, spec);
    const container = this.ctx.runc.run(id, bundle);
    const instance = new Instance(id, bundle, cgroupsPath, container, image);
    this.instances.add(instance);
    this.logs.add(`── ${new Date().toISOString()} start ${cfg.version} (${id})`);
    this.logs.follow(container.process.stdout!);
    this.logs.follow(container.process.stderr!);
    let ready = false;
    instance.done = container.exited.then((status) => this.onExit(instance, status.code, ready));
    try {
      await this.waitReady(instance);
    } catch (err) {
      // Not ready in time: killed without `stopping`, so that it counts as a failed run (crash-loop accounting).
      await this.ctx.runc.kill(id, 'KILL').catch(() => {});
      await instance.done;
      const failure = isBootosError(err) ? err : new BootosError('APP_START_FAILED', `${this.name}: ${(err as Error).message}`, { cause: err });
      if (failure.code === 'APP_START_FAILED' && this.error) this.error = { ...this.error, code: failure.code, message: failure.message };
      throw this.error ? new BootosError(this.error.code, this.error.message, { cause: err }) : failure;
    }
    ready = true;
    this.starts++;
    this.error = null;
    this.route(instance);
    this.setState('running');
    this.ctx.step(this.name, `running ${cfg.version} (${Date.now() - instance.startedAt} ms to ready)`);
    if (this.connections === 0) this.armIdle();
    return instance;
  }

  /** The switch: new connections go to this instance from now on. */
  private route(instance: Instance): void {
    this.routed = instance;
  }

  private unroute(instance: Instance): void {
    if (this.routed === instance) this.routed = null;
  }

  /** Until the app's port accepts a connection (and its HTTP health check answers 2xx, if it has one). */
  private async waitReady(instance: Instance): Promise<void> {
    const cfg = instance.image.config;
    const { startTimeoutMs, readyPollMs } = this.ctx.config.limits;
    const deadline = Date.now() + startTimeoutMs;
    const portSpec = cfg.health ? cfg.ports.find((p) => p.name === cfg.health!.port) : cfg.ports[0];
    if (!portSpec) return; // no port: running once started
    let exited: number | null = null;
    void instance.container.exited.then((s) => (exited = s.code));
    const host = this.network.host;
    let tcpUp = false;
    while (Date.now() < deadline) {
      if (exited !== null) {
        throw new BootosError('APP_CRASHED', `${this.name} exited with status ${exited} before it was ready`);
      }
      if (!tcpUp) tcpUp = await tryConnect(host, portSpec.port, Math.max(50, deadline - Date.now()));
      if (tcpUp) {
        if (!cfg.health?.http) return;
        if (await httpHealthy(host, portSpec.port, cfg.health.http, cfg.health.timeoutMs)) return;
        await sleep(cfg.health.intervalMs);
      } else {
        await sleep(readyPollMs);
      }
    }
    throw new BootosError('APP_START_FAILED', `${this.name} was not ready within ${startTimeoutMs} ms`);
  }

  private async onExit(instance: Instance, code: number, wasReady: boolean): Promise<void> {
    const limits = this.ctx.config.limits;
    const oom = code === 137 ? await oomKills(instance.cgroupsPath) : 0;
    await this.ctx.runc.delete(instance.id).catch((err) => this.ctx.step(this.name, `cleanup: ${(err as Error).message}`));
    await rm(instance.bundle, { recursive: true, force: true });
    this.instances.delete(instance);
    this.unroute(instance);
    if (this.routed) return; // another instance serves (hot update): nothing changes for the app
    this.idle.cancel();
    if (instance.stopping && !(oom > 0)) {
      this.logs.add(`── stopped (status ${code})`);
      this.ctx.step(this.name, `stopped (status ${code})`);
      if (Date.now() - instance.startedAt > limits.crashWindowMs) this.backoffMs = limits.crashBackoffMinMs;
      this.setState('stopped');
      return;
    }
    // Not asked for: a crash or an OOM kill. Confined to this app; the next connection restarts it.
    const logTail = this.logs.tail(limits.logTailLines);
    const mem = instance.image.config.resources.memoryBytes;
    if (oom > 0) {
      this.fail('APP_OOM', `${this.name} exceeded its memory limit of ${Math.round(mem / 1048576)} MiB and was killed`, { exitCode: code, logTail });
    } else {
      this.fail('APP_CRASHED', `${this.name} exited with status ${code}${wasReady ? '' : ' while starting'}`, { exitCode: code, logTail });
    }
    this.logs.add(`── ${this.error!.code}: ${this.error!.message}`);
    this.ctx.step(this.name, this.error!.message);
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < limits.crashWindowMs), now];
    if (this.crashes.length >= limits.crashLoopCount) {
      this.failedUntil = now + this.backoffMs;
      this.ctx.step(this.name, `crash loop (${this.crashes.length} exits in ${Math.round(limits.crashWindowMs / 1000)} s): failed, next try in ${Math.round(this.backoffMs / 1000)} s`);
      this.backoffMs = Math.min(this.backoffMs * 2, limits.crashBackoffMaxMs);
      this.crashes = [];
      this.setState('failed');
    } else {
      this.setState('stopped');
    }
  }

  private async thaw(): Promise<void> {
    const instance = this.routed!;
    await this.ctx.runc.resume(instance.id);
    instance.frozen = false;
    this.setState('running');
    this.ctx.step(this.name, 'thawed');
  }

  // ── API actions ────────────────────────────────────────────────────────────────────────────────────────────────

  /** POST start: also clears a crash-loop backoff (someone asked for it explicitly). */
  async start(): Promise<void> {
    this.failedUntil = 0;
    await this.ensureRunning('api');
    if (this.connections === 0) this.armIdle();
  }

  /** SIGTERM, the grace period, SIGKILL; resolves once the container is gone. */
  async stop(): Promise<void> {
    if (this.pending) await this.pending.catch(() => {});
    const instances = [...this.instances];
    if (instances.length === 0) return;
    this.idle.cancel();
    this.setState('stopping');
    this.ctx.step(this.name, 'stopping');
    await Promise.all(instances.map((i) => this.stopInstance(i)));
  }

  async stopInstance(instance: Instance): Promise<void> {
    instance.stopping = true;
    const runc = this.ctx.runc;
    if (instance.frozen) {
      await runc.resume(instance.id).catch(() => {});
      instance.frozen = false;
    }
    await runc.kill(instance.id, 'TERM').catch(() => {});
    const grace = sleep(this.ctx.config.limits.stopGraceMs).then(() => 'timeout' as const);
    if ((await Promise.race([instance.container.exited.then(() => 'exited' as const), grace])) === 'timeout') {
      this.ctx.step(this.name, `did not stop within ${this.ctx.config.limits.stopGraceMs} ms: killing`);
      await runc.kill(instance.id, 'KILL').catch(() => {});
    }
    await instance.done;
  }

  /** runc pause: the app keeps its memory but gets no CPU until the next connection thaws it. */
  async freeze(): Promise<void> {
    if (this.pending) await this.pending;
    const instance = this.routed;
    if (this.state === 'frozen') return;
    if (!instance || this.state !== 'running') throw new BootosError('APP_STATE', `${this.name} is ${this.state}, not running`);
    if (this.connections > 0) throw new BootosError('APP_STATE', `${this.name} has ${this.connections} open connection(s)`);
    this.idle.cancel();
    await this.ctx.runc.pause(instance.id);
    instance.frozen = true;
    this.setState('frozen');
    this.ctx.step(this.name, 'frozen');
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
      update: { state: 'idle', pendingVersion: null, error: null },
    };
  }

  /** Container ids of this app's live instances (tests and shutdown). */
  containerIds(): string[] {
    return [...this.instances].map((i) => i.id);
  }
}

export function newAgentId(): string {
  return randomBytes(3).toString('hex');
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

function httpHealthy(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const req = httpGet({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
  });
}
