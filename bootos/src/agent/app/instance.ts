// One run of an app's container: the image, pin and network it runs with, the connections spliced to it, and what
// runc does to it (stop with a grace period, pause, resume, signals, removal after it exited). launchInstance()
// prepares its bundle (/data, mount points, the OCI spec) and starts it.
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PulledImage } from '../../../../fetcher/src/store/pull.js';
import type { AgentConfig } from '../config.js';
import type { AppNetwork } from '../runtime/network.js';
import { ensureMountPoints } from '../runtime/mount-points.js';
import { containerSpec, locateInit, mountPoints, oomKills, type Bind, type Runc, type RunningContainer } from '../runtime/runc.js';
import type { DeviceNode } from '../runtime/screen-devices.js';
import type { Pin } from '../update/journal.js';

/**
 * What an instance is to the app: `serving` (started by the app: its exits drive the state machine), `candidate` (a
 * new version being started by an update, not routed yet) or `retired` (taken out by an update). The exits of
 * candidates and retired instances are the updater's business: they only get cleaned up here.
 */
export type InstanceRole = 'serving' | 'candidate' | 'retired';

/** A proxied connection as the instance sees it (proxy.ts keeps the fields up to date). */
export interface TrackedConnection {
  /** The last bytes went from the app to the client: the client's turn (an idle HTTP keep-alive connection). */
  lastFromApp: boolean;
  lastActivityAt: number;
  close(): void;
}

export interface Endpoint {
  host: string;
  port: number;
  /** The instance the connection goes to (it counts the connection until `close(endpoint)`). */
  instance?: Instance;
  /** Set by the proxy once the connection is spliced: what a drain looks at. */
  connection?: TrackedConnection;
}

/** One run of the app's container. */
export class Instance {
  stopping = false;
  frozen = false;
  role: InstanceRole = 'serving';
  /** Connections spliced to this instance and still open. */
  connections = 0;
  exitCode: number | null = null;
  /** Set by an update in its grace period: called at once (synchronously) if the instance exits unasked. */
  onUnexpectedExit: (() => void) | null = null;
  readonly startedAt = Date.now();
  /** Settles after the container exited and was deleted. */
  done!: Promise<void>;
  private drainWaiters: (() => void)[] = [];
  private readonly tracked = new Set<TrackedConnection>();

  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly cgroupsPath: string,
    readonly container: RunningContainer,
    readonly image: PulledImage,
    readonly network: AppNetwork,
    readonly pin: Pin,
    private readonly runc: Runc,
  ) {}

  get version(): string {
    return this.image.config.version;
  }

  release(connection?: TrackedConnection): void {
    if (connection) this.tracked.delete(connection);
    this.connections = Math.max(0, this.connections - 1);
    if (this.connections === 0) for (const waiter of this.drainWaiters.splice(0)) waiter();
  }

  track(connection: TrackedConnection): void {
    this.tracked.add(connection);
  }

  /**
   * Resolves true once no connection is open, false at the timeout. Meanwhile connections that went quiet with the
   * client's turn to speak (idle HTTP keep-alive: the last bytes were a response, nothing since for idleCloseMs) are
   * closed, as a server closes idle connections when it shuts down: their next request opens a new connection, which
   * goes to the new version. Connections in the middle of a request are left to finish.
   */
  drained(timeoutMs: number, idleCloseMs = 100): Promise<boolean> {
    if (this.connections === 0) return Promise.resolve(true);
    const closeIdle = () => {
      const now = Date.now();
      for (const c of this.tracked) if (c.lastFromApp && now - c.lastActivityAt >= idleCloseMs) c.close();
    };
    closeIdle();
    if (this.connections === 0) return Promise.resolve(true);
    return new Promise((done) => {
      const sweep = setInterval(closeIdle, Math.max(10, Math.floor(idleCloseMs / 4)));
      const timer = setTimeout(() => {
        clearInterval(sweep);
        done(false);
      }, timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        clearInterval(sweep);
        done(true);
      });
    });
  }

  /**
   * The image's stop signal (SIGTERM unless its config names another), up to graceMs, SIGKILL (graceMs 0: SIGKILL at
   * once); resolves once the container is gone. `onKill` is told when the grace period ran out.
   */
  async stop(graceMs: number, onKill: () => void): Promise<void> {
    this.stopping = true;
    const runc = this.runc;
    if (this.frozen) {
      await runc.resume(this.id).catch(() => {});
      this.frozen = false;
    }
    if (graceMs > 0) {
      await runc.kill(this.id, this.image.config.stopSignal).catch(() => {});
      const grace = sleep(graceMs).then(() => 'timeout' as const);
      if ((await Promise.race([this.container.exited.then(() => 'exited' as const), grace])) === 'timeout') {
        onKill();
        await runc.kill(this.id, 'KILL').catch(() => {});
      }
    } else {
      await runc.kill(this.id, 'KILL').catch(() => {});
    }
    await this.done;
  }

  /** Whether the container exits within `ms` (or has exited). */
  exitsWithin(ms: number): Promise<boolean> {
    if (this.exitCode !== null) return Promise.resolve(true);
    let timer!: NodeJS.Timeout;
    const late = new Promise<false>((done) => (timer = setTimeout(() => done(false), ms)));
    return Promise.race([this.container.exited.then(() => true as const), late]).finally(() => clearTimeout(timer));
  }

  kill(): Promise<string> {
    return this.runc.kill(this.id, 'KILL');
  }

  signal(signal: 'USR1' | 'USR2'): Promise<string> {
    return this.runc.kill(this.id, signal);
  }

  /** runc pause: the app keeps its memory but gets no CPU. */
  pause(): Promise<string> {
    return this.runc.pause(this.id);
  }

  resume(): Promise<string> {
    return this.runc.resume(this.id);
  }

  /**
   * After the container exited with `code`: the OOM kills its cgroup counted (status 137 only), then the container
   * and its bundle removed. Resolves with the OOM kill count.
   */
  async remove(code: number, log: (message: string) => void): Promise<number> {
    const oom = code === 137 ? await oomKills(this.cgroupsPath) : 0;
    await this.runc.delete(this.id).catch((err) => log(`cleanup: ${(err as Error).message}`));
    await rm(this.bundle, { recursive: true, force: true });
    return oom;
  }
}

export interface LaunchOptions {
  config: AgentConfig;
  runc: Runc;
  /** The container id (unique per agent run and start). */
  id: string;
  /** The app's name: the container's hostname and BOOTOS_APP. */
  app: string;
  image: PulledImage;
  pin: Pin;
  network: AppNetwork;
  /** The app's /data volume, mounted if the image has `data` (of its `resources.dataBytes` when made). */
  dataVolume(sizeBytes: number): Promise<string>;
  runtimeBinds(): Promise<Bind[]>;
  /** The display app's screen and input nodes (none for any other app). */
  devices?: readonly DeviceNode[];
  /** Their udev database entries (udev-db.ts), bound at /run/udev. */
  udev?: ReadonlyMap<string, string>;
  /** More BOOTOS_* variables (the display app's BOOTOS_KIOSK_URL). */
  env?: string[];
}

/** Writes the bundle of one run of `image` (its /data made and owned by the app's user) and starts the container. */
export async function launchInstance(o: LaunchOptions): Promise<Instance> {
  const { limits } = o.config;
  const cfg = o.image.config;
  const bundle = join(o.config.runDir, 'bundles', o.id);
  const cgroupsPath = `bootos/${o.id}`;
  let dataDir: string | null = null;
  if (cfg.data) {
    dataDir = await o.dataVolume(cfg.resources.dataBytes);
    // The volume's root belongs to the app's user (a new version may run as another one).
    await chown(dataDir, cfg.user.uid, cfg.user.gid);
    await chmod(dataDir, 0o700);
  }
  const runtimeBinds = cfg.runtime === 'node' ? await o.runtimeBinds() : [];
  if (o.udev) runtimeBinds.push(await writeUdevDatabase(bundle, o.udev));
  const initBinary = cfg.init ? await locateInit(o.config.initBinary) : null;
  await ensureMountPoints(o.image.rootfs, mountPoints(runtimeBinds, cfg.data?.path ?? null), limits.maxSymlinkHops);
  const spec = containerSpec({
    config: cfg,
    rootfs: o.image.rootfs,
    hostname: o.app,
    dataDir,
    netnsPath: cfg.network === 'host' ? null : o.network.netnsPath,
    runtimeBinds,
    initBinary,
    cgroupsPath,
    arch: o.config.arch,
    tmpBytes: limits.tmpBytes,
    maxOpenFiles: limits.maxOpenFiles,
    extraEnv: [`BOOTOS_APP=${o.app}`, `BOOTOS_IMAGE_VERSION=${cfg.version}`, ...(o.env ?? [])],
    devices: o.devices ?? [],
  });
  await o.runc.writeBundle(bundle, spec);
  const container = o.runc.run(o.id, bundle);
  return new Instance(o.id, bundle, cgroupsPath, container, o.image, o.network, o.pin, o.runc);
}

/** The display app's /run/udev (udev-db.ts), written into its bundle: removed with it. */
async function writeUdevDatabase(bundle: string, entries: ReadonlyMap<string, string>): Promise<Bind> {
  const dir = join(bundle, 'udev');
  await mkdir(bundle, { recursive: true, mode: 0o700 });
  await mkdir(join(dir, 'data'), { recursive: true, mode: 0o755 });
  for (const [name, content] of entries) await writeFile(join(dir, 'data', name), content, { mode: 0o644 });
  return { source: dir, target: '/run/udev' };
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
