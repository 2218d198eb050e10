// The container runs of one app: its live instances, the switch that says which one gets new connections (`route`),
// and the gate that makes connections wait (an exclusive hand-over's gap, a rollback). A run is started here (bundle,
// logs, readiness) and cleaned up here when it exits; what an exit means for the app is the App's to decide.
import { BootosError } from '../../../../fetcher/src/core/error.js';
import type { PortSpec } from '../../../../fetcher/src/formats/image-config.js';
import type { PulledImage } from '../../../../fetcher/src/store/pull.js';
import type { AgentConfig } from '../config.js';
import type { AppNetwork } from '../runtime/network.js';
import type { Bind, Runc } from '../runtime/runc.js';
import type { Pin } from '../update/journal.js';
import { launchInstance, type Endpoint, type Instance, type InstanceRole } from './instance.js';
import { screenDevices, type DeviceNode } from '../runtime/screen-devices.js';
import { describeScreen, udevDatabase } from '../runtime/udev-db.js';
import type { LogRing } from './logs.js';
import { waitReady } from './readiness.js';

export interface RunsContext {
  config: AgentConfig;
  runc: Runc;
  agentId: string;
  /** The app's name (container ids, hostname, messages). */
  app: string;
  /** The app's /data volume mounted (one mount shared by every instance); resolves with its folder. */
  dataVolume(sizeBytes: number): Promise<string>;
  /** The profile entry allows `network: host` (ProfileApp.hostNetwork). */
  hostNetworkAllowed: boolean;
  /** The profile entry is the display app (ProfileApp.display): it gets the screen and the kiosk's address. */
  display: boolean;
  logs: LogRing;
  runtimeBinds(): Promise<Bind[]>;
  /** The display app's nodes, as it starts (AppContext.screenDevices). */
  screenDevices(devices: readonly DeviceNode[]): void;
  /** The screen's kiosk is up from this address (AppContext.screenUp). */
  screenUp(address: string): boolean;
  step(message: string): void;
  /** A run exited and was cleaned up (`oom`: OOM kills counted in its cgroup; `wasReady`: it had started well). */
  exited(instance: Instance, code: number, oom: number, wasReady: boolean): Promise<void>;
}

export class Runs {
  /** The instance that gets new connections. Only `route()` and `unroute()` change it. */
  private routed: Instance | null = null;
  private readonly instances = new Set<Instance>();
  /** Connections wait for this before anything else (an exclusive hand-over, a rollback in progress). */
  private gate: Promise<void> | null = null;
  private generation = 0;

  constructor(private readonly ctx: RunsContext) {}

  /** The instance that gets new connections, if any. */
  get current(): Instance | null {
    return this.routed;
  }

  /** What connections wait for first, if anything. */
  get held(): Promise<void> | null {
    return this.gate;
  }

  /** The switch: new connections go to this instance from now on. */
  route(instance: Instance): void {
    this.routed = instance;
  }

  unroute(instance: Instance): void {
    if (this.routed === instance) this.routed = null;
  }

  /** No new connections for `instance`; its exit is the updater's. */
  retire(instance: Instance): void {
    instance.role = 'retired';
    this.unroute(instance);
  }

  /** Connections wait until `until` settles (an exclusive hand-over's gap, a rollback). */
  hold(until: Promise<unknown>): void {
    const gate: Promise<void> = until.then(
      () => {},
      () => {},
    ).finally(() => {
      if (this.gate === gate) this.gate = null;
    });
    this.gate = gate;
  }

  /**
   * A new connection to `port` goes to the routed instance (counted there), unless there is none, it is frozen or
   * connections are held: then null, and the caller makes sure the app runs and asks again.
   */
  connect(port: PortSpec): Endpoint | null {
    const instance = this.routed;
    if (!instance || instance.frozen || this.gate) return null;
    instance.connections++;
    // Ports are matched by name: a new version may move its app-side port.
    const appPort = instance.image.config.ports.find((p) => p.name === port.name)?.port ?? port.port;
    return { host: instance.network.host, port: appPort, instance };
  }

  /** Live instances. */
  live(): Instance[] {
    return [...this.instances];
  }

  /** Starts a version beside the routed one, not routed; resolves once it passed its health check. */
  startCandidate(image: PulledImage, pin: Pin, network: AppNetwork, timeoutMs: number): Promise<Instance> {
    return this.spawn(image, pin, network, 'candidate', timeoutMs, () => false);
  }

  /**
   * Runs one container of `image` in `network` and waits until it is ready (`timeoutMs`); on failure it is killed and
   * gone before this throws. `wasReady` tells the exit handler whether an exit counts as a crash after a good start.
   */
  async spawn(image: PulledImage, pin: Pin, network: AppNetwork, role: InstanceRole, timeoutMs: number, wasReady: () => boolean): Promise<Instance> {
    const { config, runc, app, logs } = this.ctx;
    if (image.config.user.uid === 0) throw new BootosError('APP_START_FAILED', `${app}: apps never run as root (uid 0)`);
    if (image.config.network === 'host' && !this.ctx.hostNetworkAllowed) {
      throw new BootosError('HOST_NETWORK_NOT_ALLOWED', `${app} ${image.config.version} asks for network: host, which its channel's profile does not allow (hostNetwork: true)`);
    }
    const id = `${this.ctx.agentId}-${app}-${++this.generation}`;
    const runtimeBinds = () => this.ctx.runtimeBinds();
    let screen = {};
    if (this.ctx.display) {
      const devices = await screenDevices();
      const udev = await udevDatabase(devices);
      this.ctx.step(`the screen: ${describeScreen(devices, udev)}`);
      this.ctx.screenDevices(devices);
      screen = { devices, udev, env: [`BOOTOS_KIOSK_URL=http://${network.agentHost}:${config.apiPort}/`] };
    }
    const instance = await launchInstance({ config, runc, id, app, image, pin, network, dataVolume: (size) => this.ctx.dataVolume(size), runtimeBinds, ...screen });
    const { container } = instance;
    instance.role = role;
    this.instances.add(instance);
    logs.add(`── ${new Date().toISOString()} start ${image.config.version} (${id})`);
    logs.follow(container.process.stdout!);
    logs.follow(container.process.stderr!);
    instance.done = container.exited.then((status) => this.onExit(instance, status.code, wasReady()));
    try {
      const { readyPollMs } = config.limits;
      const screenUp = this.ctx.display ? () => this.ctx.screenUp(network.host) : undefined;
      const startTimeoutMs = this.ctx.display ? Math.max(timeoutMs, config.limits.screenStartTimeoutMs) : timeoutMs;
      await waitReady({ app, config: image.config, host: network.host, exited: container.exited, startTimeoutMs, readyPollMs, screenUp });
    } catch (err) {
      await instance.kill().catch(() => {});
      await instance.done;
      throw err;
    }
    return instance;
  }

  private async onExit(instance: Instance, code: number, wasReady: boolean): Promise<void> {
    instance.exitCode = code;
    // An update in its grace period takes over at once, before any connection can start something else.
    if (!instance.stopping && instance.onUnexpectedExit) instance.onUnexpectedExit();
    // Its listener is gone: from the exit on, not after the removal, no connection goes to it (they were refused and
    // reset). If it was routed, new connections wait until the exit is handled, then start the next run (or get the
    // app's error) rather than start one beside the exit still being counted.
    const routed = this.routed === instance;
    this.unroute(instance);
    const handled = this.cleanUp(instance, code, wasReady);
    if (routed && !this.gate) this.hold(handled);
    await handled;
  }

  private async cleanUp(instance: Instance, code: number, wasReady: boolean): Promise<void> {
    const oom = await instance.remove(code, this.ctx.step);
    this.instances.delete(instance);
    await this.ctx.exited(instance, code, oom, wasReady);
  }

  /** SIGTERM, up to graceMs, SIGKILL (graceMs 0: SIGKILL at once); resolves once the container is gone. */
  stop(instance: Instance, graceMs = this.ctx.config.limits.stopGraceMs): Promise<void> {
    return instance.stop(graceMs, () => this.ctx.step(`did not stop within ${graceMs} ms: killing`));
  }
}
