// The apps of the device's profile: for each one its App (state machine), its Updater and the listeners on its public
// ports. Apps are added from a verified channel (after any update a kill interrupted is finished), offered the digests
// a newer channel pins, and stopped together at shutdown. Images are resolved and pulled by digest through a channel
// that pins only the version the device chose.
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { BootosError, deviceFailure, isBootosError, type ErrorCode } from '../../../fetcher/src/core/error.js';
import { resolveImage, type ResolvedImage } from '../../../fetcher/src/trust/resolve.js';
import { type RegistrySource } from '../../../fetcher/src/source/source.js';
import { profileApps, type Channel, type ChannelSigned, type ProfileApp } from '../../../fetcher/src/formats/trust-docs.js';
import { pullImage } from '../../../fetcher/src/store/pull.js';
import type { Store } from '../../../fetcher/src/store/store.js';
import { App, type AppContext } from './app/app.js';
import { ConnectionAdmission } from './app/admission.js';
import { AppListener } from './app/proxy.js';
import type { AgentConfig } from './config.js';
import type { Pin, UpdateStore } from './update/journal.js';
import { recoverUpdate } from './update/recovery.js';
import { Updater, type UpdaterContext } from './update/updater.js';
import { createIsolatedNetwork, hostNetwork, type AppNetwork } from './runtime/network.js';
import { DataVolumes } from './runtime/data-volume.js';
import { nodeRuntimeBinds, type Bind, type Runc } from './runtime/runc.js';
import { hasScreen, screenDevices } from './runtime/screen-devices.js';
import { HomeKey } from './runtime/home-key.js';

/** What the apps need from the agent. */
export interface AppSetContext {
  config: AgentConfig;
  agentId: string;
  runc: Runc;
  source: RegistrySource;
  store: Store;
  updateStore: UpdateStore;
  /** The device's X25519 sealing private key, for encrypted images (the device identity's, once it is open). */
  sealKey?(): KeyObject | undefined;
  /** The last verified channel. */
  channel(): Channel | null;
  step(app: string, message: string): void;
  changed(): void;
  log(line: string): void;
  /** The screen's home key was pressed (home-key.ts). */
  homePressed(): void;
  /** The API has an event stream open from the device's screen at `address`. */
  screenUp(address: string): boolean;
}

export class AppSet {
  readonly apps = new Map<string, App>();
  readonly updaters = new Map<string, Updater>();
  private readonly listeners: AppListener[] = [];
  /** The caps on connections to app ports, shared by every listener. */
  readonly admission: ConnectionAdmission;
  private readonly networks = new Set<AppNetwork>();
  private runtimeBindsCache: Promise<Bind[]> | null = null;
  /** The apps' /data volumes (one mount per app, shared by its instances). */
  readonly volumes: DataVolumes;
  /** The screen's home key, read from the display app's keyboards. */
  private readonly homeKey: HomeKey;

  constructor(private readonly ctx: AppSetContext) {
    this.admission = new ConnectionAdmission(ctx.config.limits);
    this.homeKey = new HomeKey(() => ctx.homePressed(), ctx.log);
    this.volumes = new DataVolumes({
      dataRoot: ctx.config.dataRoot,
      reserveBytes: ctx.config.limits.dataReserveBytes,
      log: (app, message) => ctx.step(app, message),
    });
  }

  /** The app called `name` (APP_UNKNOWN if the profile has none). */
  get(name: string): App {
    const app = this.apps.get(name);
    if (!app) throw new BootosError('APP_UNKNOWN', `no app ${name} in profile ${this.ctx.config.profile}`);
    return app;
  }

  /**
   * Is `address` the display app's: the veth address of one of its running instances (never an app with
   * `network: host`, whose address is the device's loopback)?
   */
  isScreen(address: string): boolean {
    for (const app of this.apps.values()) {
      if (!app.entry.display) continue;
      if (app.runs.live().some((i) => i.network.netnsPath !== null && i.network.host === address)) return true;
    }
    return false;
  }

  /** The channel verified at start-up: every app of the profile not there yet is added. */
  async addNew(channel: Channel): Promise<void> {
    for (const entry of profileApps(channel.signed, this.ctx.config.profile)) {
      if (!this.apps.has(entry.image)) await this.add(channel, entry);
    }
  }

  /** A newly verified channel: new apps of the profile listen, apps whose digest moved are updated. */
  async channelMoved(channel: Channel): Promise<void> {
    const c = this.ctx.config;
    let entries: ProfileApp[] = [];
    try {
      entries = profileApps(channel.signed, c.profile);
    } catch (err) {
      this.ctx.step('agent', `channel ${c.channel}: ${(err as Error).message}`);
    }
    for (const entry of entries) {
      const app = this.apps.get(entry.image);
      if (!app) {
        await this.add(channel, entry).catch((err) => this.ctx.step(entry.image, `cannot add: ${(err as Error).message}`));
        continue;
      }
      const pinned = channel.signed.images[entry.image]!;
      const offer = { digest: pinned.digest, size: pinned.size, ...(pinned.version ? { version: pinned.version } : {}) };
      void this.updaters.get(entry.image)!.offer(offer);
    }
  }

  /** At each channel check that found nothing new: updates that failed for the device's reasons are tried again. */
  retryUpdates(): void {
    for (const updater of this.updaters.values()) updater.retry();
  }

  /** Resolves once no update is under way. */
  async updatesSettled(): Promise<void> {
    await Promise.all([...this.updaters.values()].map((u) => u.settled()));
  }

  private async add(channel: Channel, entry: ProfileApp): Promise<void> {
    const { config } = this.ctx;
    const name = entry.image;
    // An update that a kill interrupted is finished first: one version, and its /data, before anything runs. A
    // snapshot is restored into the app's volume, so the volume is mounted first (if the app has one).
    const record = await recoverUpdate(this.ctx.updateStore, config, name, join(config.dataRoot, name), (m) => this.ctx.step(name, `recovery: ${m}`), () =>
      this.volumes.mountExisting(name),
    );
    const offered = channel.signed.images[name]!;
    // Only the small index, manifest and config: the port and policies are in the config. No layer is fetched.
    let resolved: ResolvedImage | null = null;
    let skipped: string | null = null;
    let unreachable: { code: ErrorCode; message: string } | null = null;
    if (record.failed[offered.digest] && record.current && record.current.digest !== offered.digest) {
      // The channel still pins a version that failed here: keep the one that last served well.
      resolved = await this.resolvePin(name, record.current).catch(() => null);
      if (resolved) skipped = offered.digest;
    }
    if (!resolved) {
      try {
        resolved = await resolveImage(this.ctx.source, channel.signed, name, config.arch, config.limits);
      } catch (err) {
        // The channel names a version whose documents cannot be had (missing blobs, the registry unreachable): the
        // version that last served well, if the store still has it, is what the app starts on meanwhile.
        const cached = record.current && record.current.digest !== offered.digest ? await this.cachedResolve(name, record.current) : null;
        if (!cached) throw err;
        resolved = cached;
        const e = deviceFailure(err, `${name} ${offered.version ?? offered.digest}`, 'APP_START_FAILED');
        unreachable = { code: e.code, message: e.message };
        this.ctx.step(name, `${offered.version ?? offered.digest} cannot be resolved (${e.code}: ${e.message}): starting on the cached ${record.current!.version}`);
      }
    }
    const pin: Pin = { digest: resolved.digest, size: skipped || unreachable ? record.current!.size : offered.size, version: resolved.config.version };
    const network = resolved.config.network === 'host' ? hostNetwork() : await this.newNetwork(name);
    const app = new App(resolved, pin, entry, network, this.appContext());
    await app.init();
    const updater = new Updater(app, this.updaterContext(), record);
    if (skipped) updater.showFailed(skipped);
    if (unreachable) updater.deferred({ digest: offered.digest, size: offered.size, ...(offered.version ? { version: offered.version } : {}) }, unreachable, record.current!);
    this.apps.set(app.name, app);
    this.updaters.set(app.name, updater);
    for (const port of resolved.config.ports) {
      const listener = new AppListener(app, port, config.appHost, config.limits, this.admission);
      // With the host's network the app itself binds its port: the agent must not take it.
      const avoid = resolved.config.network === 'host' ? port.port : null;
      const at = config.portMap[port.public] ?? port.public;
      const bound = await listener.listen(avoid, at);
      this.listeners.push(listener);
      app.publicPorts.set(port.name, bound);
      if (bound !== at) this.ctx.step(app.name, `port ${at} is taken: listening on ${bound}`);
      else if (at !== port.public) this.ctx.step(app.name, `port ${port.public} is opened at ${at} (bootos.port_map)`);
    }
    this.ctx.step(app.name, `${app.state}: ${resolved.config.version} on port ${app.publicPorts.get(resolved.config.ports[0]?.name ?? '') ?? '-'}`);
    if (entry.display) void this.startScreen(app);
    if (entry.prefetch && app.state === 'available') {
      app.prefetch().catch((err) => this.ctx.step(app.name, `prefetch failed: ${(err as Error).message}`));
    }
  }

  /**
   * The display app at start-up, when the device has a screen (a DRM card node): in the background, so that boot
   * never waits for it; a failure is shown in its card and the crash policy's restarts take over.
   */
  private async startScreen(app: App): Promise<void> {
    try {
      if (!hasScreen(await screenDevices())) {
        this.ctx.step(app.name, 'no screen (no /dev/dri/card*): the display app is not started');
        return;
      }
      this.ctx.step(app.name, 'a screen is there: starting the display app');
      await app.start();
    } catch (err) {
      this.ctx.step(app.name, `the display app did not start: ${(err as Error).message}`);
    }
  }

  /** A channel whose only image is `pin`: resolving and pulling a version the device chose itself (by digest). */
  private pinnedChannel(name: string, pin: Omit<Pin, 'version'>): ChannelSigned {
    const channel = this.ctx.channel();
    if (!channel) throw new BootosError('APP_START_FAILED', 'no verified channel');
    return { ...channel.signed, images: { [name]: { digest: pin.digest, size: pin.size } } };
  }

  private resolvePin(name: string, pin: Omit<Pin, 'version'>): Promise<ResolvedImage> {
    return resolveImage(this.ctx.source, this.pinnedChannel(name, pin), name, this.ctx.config.arch, this.ctx.config.limits);
  }

  /** `pin` resolved from the documents the store holds, if its root is there too (null otherwise). */
  private async cachedResolve(name: string, pin: Omit<Pin, 'version'>): Promise<ResolvedImage | null> {
    const { store, source, config } = this.ctx;
    try {
      const resolved = await resolveImage(store.cached(source), this.pinnedChannel(name, pin), name, config.arch, config.limits);
      return (await store.rootOf(resolved.manifestDescriptor.digest)) ? resolved : null;
    } catch {
      return null;
    }
  }

  /**
   * Pulls `pin`. One that is not in the store yet is refused early (DATA_FULL) when the data root would keep less
   * than `dataReserveBytes` free: its layers count twice (the blobs kept, and an unpacked root at least as large).
   * A full disk met on the way is DATA_FULL too.
   */
  private pull: AppContext['pull'] = async (image, pin, onProgress) => {
    const { source, store, config } = this.ctx;
    const channel = this.pinnedChannel(image, pin);
    try {
      const resolved = await resolveImage(store.cached(source), channel, image, config.arch, config.limits);
      if (!(await store.rootOf(resolved.manifestDescriptor.digest))) {
        const needed = 2 * resolved.manifest.layers.reduce((sum, l) => sum + l.size, 0);
        const free = await this.volumes.freeBytes();
        if (free < needed + config.limits.dataReserveBytes) {
          throw new BootosError(
            'DATA_FULL',
            `${image} ${pin.version}: the download needs about ${needed} bytes and the data root keeps ${config.limits.dataReserveBytes} bytes ` +
              `(dataReserveBytes) for the agent, but only ${free} bytes are free: free space (remove apps from the profile, store gc)`,
          );
        }
      }
      return await pullImage({ source, store, channel, image, arch: config.arch, onProgress, sealKey: this.ctx.sealKey?.() });
    } catch (err) {
      throw isBootosError(err) && err.code !== 'NO_SPACE' ? err : deviceFailure(err, `download of ${image} ${pin.version}`, 'APP_START_FAILED');
    }
  };

  private async fallback(name: string, failed: Pin): ReturnType<AppContext['cachedFallback']> {
    const current = this.updaters.get(name)?.lastServed;
    if (!current || current.digest === failed.digest) return null;
    const resolved = await this.cachedResolve(name, current);
    if (!resolved) return null;
    const pulled = await this.pull(name, current, () => {}).catch(() => null);
    return pulled ? { resolved, pin: current, pulled } : null;
  }

  private async newNetwork(app: string): Promise<AppNetwork> {
    const network = await createIsolatedNetwork(`${this.ctx.agentId} ${app}`);
    this.networks.add(network);
    return network;
  }

  private updaterContext(): UpdaterContext {
    return {
      config: this.ctx.config,
      store: this.ctx.updateStore,
      resolve: (name, pin) => this.resolvePin(name, pin),
      pull: this.pull,
      newNetwork: (name) => this.newNetwork(name),
      releaseNetwork: async (network) => {
        this.networks.delete(network);
        await network.close();
      },
      step: (app, message) => this.ctx.step(app, message),
      changed: () => this.ctx.changed(),
    };
  }

  private appContext(): AppContext {
    return {
      config: this.ctx.config,
      runc: this.ctx.runc,
      agentId: this.ctx.agentId,
      pull: this.pull,
      served: (app, pin) => this.updaters.get(app)?.served(pin),
      isCached: async (digest) => (await this.ctx.store.rootOf(digest)) !== null,
      dataVolume: (app, size) => this.volumes.ensure(app, size),
      cachedFallback: (app, failed) => this.fallback(app, failed),
      fellBack: (app, failed, fallback, error) => this.updaters.get(app)?.deferred({ digest: failed.digest, size: failed.size, version: failed.version }, error, fallback),
      runtimeBinds: () => (this.runtimeBindsCache ??= nodeRuntimeBinds()),
      screenDevices: (devices) => void this.homeKey.watch(devices),
      screenUp: (address) => this.ctx.screenUp(address),
      changed: () => this.ctx.changed(),
      step: (app, message) => this.ctx.step(app, message),
    };
  }

  /** Stops every app cleanly (SIGTERM, grace, SIGKILL) and removes their networks; nothing starts any more. */
  async close(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.close()));
    for (const app of this.apps.values()) app.closed = true;
    await Promise.all([...this.apps.values()].map((a) => a.stop().catch((err) => this.ctx.log(`bootos-agent: ${a.name}: stop: ${(err as Error).message}`))));
    // An update under way gives up (its journal is finished at the next start); then anything it started is stopped.
    await this.updatesSettled();
    await Promise.all([...this.apps.values()].map((a) => a.stop().catch(() => {})));
    await Promise.all([...this.networks].map((n) => n.close().catch(() => {})));
    await this.homeKey.close();
    // Every container is gone: nothing uses a volume any more.
    await this.volumes.unmountAll(this.ctx.log);
  }
}

