// The device agent: verifies the channel, listens on every profile app's port, and runs apps on demand through
// App (state machine), AppListener (proxy), Runc (runtime), the idle policy and the local API; watches the channel
// (ChannelWatcher) and updates apps when it moves (Updater), finishing at start-up any update a kill interrupted.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BootosError, isBootosError } from '../../../fetcher/src/core/error.js';
import { resolveImage, type ResolvedImage } from '../../../fetcher/src/trust/resolve.js';
import { openSource } from '../../../fetcher/src/source/open-source.js';
import { type RegistrySource } from '../../../fetcher/src/source/source.js';
import { profileApps, type Channel, type ChannelSigned, type ProfileApp } from '../../../fetcher/src/formats/trust-docs.js';
import { Trust } from '../../../fetcher/src/trust/trust.js';
import { startApi, type ApiBackend, type ApiServer } from './api/api.js';
import { App, newAgentId, type AppContext } from './app/app.js';
import type { AgentConfig } from './config.js';
import { dataRootReady } from './data-root.js';
import { Events } from './events.js';
import { deviceInfo } from './api/device.js';
import { MemoryPressureWatch } from './app/idle.js';
import { UpdateStore, type Pin } from './update/journal.js';
import { createIsolatedNetwork, hostNetwork, type AppNetwork } from './runtime/network.js';
import { AppListener } from './app/proxy.js';
import { pullImage } from '../../../fetcher/src/store/pull.js';
import { Store } from '../../../fetcher/src/store/store.js';
import { nodeRuntimeBinds, Runc, type Bind } from './runtime/runc.js';
import { recoverUpdate, Updater, type UpdaterContext } from './update/updater.js';
import { mark } from './timing.js';
import type { ChannelWatcher } from './watcher.js';
import { ChannelLoop, type ChannelStatus } from './channel.js';

export class Agent {
  readonly apps = new Map<string, App>();
  readonly updaters = new Map<string, Updater>();
  readonly agentId = newAgentId();
  readonly runc: Runc;
  readonly store: Store;
  api!: ApiServer;

  private readonly source: RegistrySource;
  private trust!: Trust;
  private readonly listeners: AppListener[] = [];
  private readonly networks = new Set<AppNetwork>();
  private readonly updateStore: UpdateStore;
  private readonly events: Events;
  private readonly loop: ChannelLoop;
  private readonly startedAt = Date.now();
  private runtimeBindsCache: Promise<Bind[]> | null = null;
  private readonly memory: MemoryPressureWatch;
  private stopped = false;
  private readonly stopping = new AbortController();
  private fail!: (err: BootosError) => void;
  /**
   * Resolves (never rejects) with the error that keeps the agent from going on after start() returned: the data root
   * never came (DATA_ROOT_TIMEOUT) or the trust state in it refuses to load. `bootos agent` then exits with it.
   */
  readonly failed = new Promise<BootosError>((resolve) => (this.fail = resolve));

  private constructor(
    readonly config: AgentConfig,
    private readonly log: (line: string) => void,
  ) {
    this.runc = new Runc(config.runc, join(config.runDir, 'runc'));
    this.store = new Store(config.storeDir);
    this.source = openSource(config.registry);
    this.updateStore = new UpdateStore(config.stateDir);
    this.events = new Events(() => this.appsJSON(), config.limits.eventsThrottleMs, log);
    this.loop = new ChannelLoop({
      config,
      source: this.source,
      trust: () => this.trust,
      verified: async (channel) => {
        for (const entry of profileApps(channel.signed, config.profile)) {
          if (!this.apps.has(entry.image)) await this.addApp(channel, entry);
        }
        return this.apps.size;
      },
      moved: (channel) => this.channelMoved(channel),
      unchanged: () => {
        for (const updater of this.updaters.values()) updater.retry();
      },
      step: (app, message) => this.step(app, message),
      changed: () => this.changed(),
    });
    this.memory = new MemoryPressureWatch({
      intervalMs: config.limits.memoryCheckIntervalMs,
      lowBytes: config.limits.memoryLowBytes,
      candidates: () => [...this.apps.values()],
      stop: (name) => this.apps.get(name)!.stop(),
      log: (message) => this.step('agent', message),
    });
  }

  /**
   * Starts the API and then, in the background, opens the data root and the channel loop; resolves once the API
   * listens (the data root may still be mounting, the channel may still be retrying).
   */
  static async start(config: AgentConfig, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<Agent> {
    const agent = new Agent(config, log);
    await agent.open();
    return agent;
  }

  private async open(): Promise<void> {
    const c = this.config;
    await mkdir(c.runDir, { recursive: true, mode: 0o700 });
    // Containers left by an earlier run of an agent with this runDir (a crash, a kill -9): gone before anything starts.
    for (const leftover of await this.runc.list().catch(() => [])) {
      this.log(`bootos-agent: removing leftover container ${leftover.id}`);
      await this.runc.delete(leftover.id).catch(() => {});
    }
    await rm(join(c.runDir, 'bundles'), { recursive: true, force: true });
    let rootBytes: Buffer;
    try {
      rootBytes = await readFile(c.rootFile);
    } catch (err) {
      throw new BootosError('FILE_NOT_FOUND', `trusted root not found: ${c.rootFile}`, { cause: err });
    }
    // The API and the kiosk need nothing from the data root: they answer while /init may still be mounting it.
    this.api = await startApi({ host: c.apiHost, port: c.apiPort, kioskDir: c.kioskDir, backend: this.backend(), log: this.log });
    mark('listening');
    this.memory.start();
    const opening = this.openData(rootBytes).then(
      () => true,
      (err: unknown) => {
        if (this.stopped) return false;
        const failure = isBootosError(err) ? err : new BootosError('STORE_INVALID', `cannot open the data root: ${(err as Error).message}`, { cause: err });
        this.loop.halt(failure);
        this.fail(failure);
        return false;
      },
    );
    this.loop.start(opening);
  }

  /** Waits for the data root (/init may still be mounting it), then opens the trust state and journals kept there. */
  private async openData(rootBytes: Buffer): Promise<void> {
    const c = this.config;
    const waited = await dataRootReady(c.runDir, c.limits.dataRootWaitMs, this.stopping.signal);
    mark('data root ready');
    if (waited > 0) this.step('agent', `data root ready after ${waited} ms`);
    for (const dir of [c.stateDir, c.storeDir, c.dataRoot]) await mkdir(dir, { recursive: true, mode: 0o700 });
    await mkdir(this.updateStore.dir, { recursive: true, mode: 0o700 });
    this.trust = await Trust.open({ initialRoot: rootBytes, stateDir: c.stateDir });
    mark('store opened');
  }

  /** Resolves when the channel has been verified and every app listens (or the first attempt failed). */
  async settled(): Promise<void> {
    await this.loop.settled();
  }

  /** What /api/apps shows of the channel loop. */
  get channelStatus(): ChannelStatus {
    return this.loop.status;
  }

  /** The last verified channel. */
  get channel(): Channel | null {
    return this.loop.channel;
  }

  get watcher(): ChannelWatcher | null {
    return this.loop.watcher;
  }

  // ── channel and apps ───────────────────────────────────────────────────────────────────────────────────────────

  private async addApp(channel: Channel, entry: ProfileApp): Promise<void> {
    const name = entry.image;
    // An update that a kill interrupted is finished first: one version, and its /data, before anything runs.
    const record = await recoverUpdate(this.updateStore, this.config, name, join(this.config.dataRoot, name), (m) => this.step(name, `recovery: ${m}`));
    const offered = channel.signed.images[name]!;
    // Only the small index, manifest and config: the port and policies are in the config. No layer is fetched.
    let resolved: ResolvedImage | null = null;
    let skipped: string | null = null;
    if (record.failed[offered.digest] && record.current && record.current.digest !== offered.digest) {
      // The channel still pins a version that failed here: keep the one that last served well.
      resolved = await this.resolvePin(name, record.current).catch(() => null);
      if (resolved) skipped = offered.digest;
    }
    resolved ??= await resolveImage(this.source, channel.signed, name, this.config.arch);
    const pin: Pin = { digest: resolved.digest, size: skipped ? record.current!.size : offered.size, version: resolved.config.version };
    const network = resolved.config.network === 'host' ? hostNetwork() : await this.newNetwork(name);
    const app = new App(resolved, pin, entry, network, this.appContext());
    await app.init();
    const updater = new Updater(app, this.updaterContext(), record);
    if (skipped) updater.showFailed(skipped);
    this.apps.set(app.name, app);
    this.updaters.set(app.name, updater);
    for (const port of resolved.config.ports) {
      const listener = new AppListener(app, port, this.config.appHost);
      // With the host's network the app itself binds its port: the agent must not take it.
      const avoid = resolved.config.network === 'host' ? port.port : null;
      const bound = await listener.listen(avoid);
      this.listeners.push(listener);
      app.publicPorts.set(port.name, bound);
      if (bound !== port.public) this.step(app.name, `port ${port.public} is taken: listening on ${bound}`);
    }
    this.step(app.name, `${app.state}: ${resolved.config.version} on port ${app.publicPorts.get(resolved.config.ports[0]?.name ?? '') ?? '-'}`);
    if (entry.prefetch && app.state === 'available') {
      app.prefetch().catch((err) => this.step(app.name, `prefetch failed: ${(err as Error).message}`));
    }
  }

  /** A channel whose only image is `pin`: resolving and pulling a version the device chose itself (by digest). */
  private pinnedChannel(name: string, pin: Omit<Pin, 'version'>): ChannelSigned {
    if (!this.channel) throw new BootosError('APP_START_FAILED', 'no verified channel');
    return { ...this.channel.signed, images: { [name]: { digest: pin.digest, size: pin.size } } };
  }

  private resolvePin(name: string, pin: Omit<Pin, 'version'>): Promise<ResolvedImage> {
    return resolveImage(this.source, this.pinnedChannel(name, pin), name, this.config.arch);
  }

  private async newNetwork(app: string): Promise<AppNetwork> {
    const network = await createIsolatedNetwork(`${this.agentId} ${app}`);
    this.networks.add(network);
    return network;
  }

  private updaterContext(): UpdaterContext {
    return {
      config: this.config,
      store: this.updateStore,
      resolve: (name, pin) => this.resolvePin(name, pin),
      pull: (name, pin, onProgress) =>
        pullImage({ source: this.source, store: this.store, channel: this.pinnedChannel(name, pin), image: name, arch: this.config.arch, onProgress }),
      newNetwork: (name) => this.newNetwork(name),
      releaseNetwork: async (network) => {
        this.networks.delete(network);
        await network.close();
      },
      step: (app, message) => this.step(app, message),
      changed: () => this.changed(),
    };
  }

  /** A newly verified channel: new apps of the profile listen, apps whose digest moved are updated. */
  private async channelMoved(channel: Channel): Promise<void> {
    const c = this.config;
    let entries: ProfileApp[] = [];
    try {
      entries = profileApps(channel.signed, c.profile);
    } catch (err) {
      this.step('agent', `channel ${c.channel}: ${(err as Error).message}`);
    }
    for (const entry of entries) {
      const app = this.apps.get(entry.image);
      if (!app) {
        await this.addApp(channel, entry).catch((err) => this.step(entry.image, `cannot add: ${(err as Error).message}`));
        continue;
      }
      const pinned = channel.signed.images[entry.image]!;
      const offer = { digest: pinned.digest, size: pinned.size, ...(pinned.version ? { version: pinned.version } : {}) };
      void this.updaters.get(entry.image)!.offer(offer);
    }
  }

  /** Polls the channel now (tests; the timer does it every channelPollIntervalMs) and waits for the updates it starts. */
  async checkChannel(): Promise<void> {
    await this.loop.poll();
    await Promise.all([...this.updaters.values()].map((u) => u.settled()));
  }

  private appContext(): AppContext {
    return {
      config: this.config,
      runc: this.runc,
      agentId: this.agentId,
      pull: async (image, pin, onProgress) =>
        pullImage({ source: this.source, store: this.store, channel: this.pinnedChannel(image, pin), image, arch: this.config.arch, onProgress }),
      served: (app, pin) => this.updaters.get(app)?.served(pin),
      isCached: async (digest) => (await this.store.rootOf(digest)) !== null,
      runtimeBinds: () => (this.runtimeBindsCache ??= nodeRuntimeBinds()),
      changed: () => this.changed(),
      step: (app, message) => this.step(app, message),
    };
  }

  // ── events ─────────────────────────────────────────────────────────────────────────────────────────────────────

  /** Something in /api/apps changed (see Events.changed). */
  changed(): void {
    this.events.changed();
  }

  /** Calls `listener` with every step (as /api/events sends them); returns the unsubscribe function. */
  onStep(listener: (app: string, message: string) => void): () => void {
    return this.events.onStep(listener);
  }

  private step(app: string, message: string): void {
    this.events.step(app, message);
  }

  appsJSON(): Record<string, unknown> {
    return {
      device: { profile: this.config.profile, arch: this.config.arch },
      channel: { ...this.channelStatus },
      apps: [...this.apps.values()].map((a) => a.toJSON()),
    };
  }

  private app(name: string): App {
    const app = this.apps.get(name);
    if (!app) throw new BootosError('APP_UNKNOWN', `no app ${name} in profile ${this.config.profile}`);
    return app;
  }

  private backend(): ApiBackend {
    return {
      apps: () => this.appsJSON(),
      device: () => deviceInfo(this.config.arch),
      logs: (name) => this.app(name).logs.tail(),
      uptimeSeconds: () => Math.round((Date.now() - this.startedAt) / 1000),
      onEvent: (listener) => this.events.subscribe(listener),
      checkAction: (name, action) => {
        const app = this.app(name);
        if (app.updating && action !== 'start') throw new BootosError('APP_STATE', `${name} is being updated (${app.update.state})`);
        if (action === 'stop' && !['starting', 'running', 'frozen', 'stopping'].includes(app.state)) {
          throw new BootosError('APP_STATE', `${name} is ${app.state}: nothing to stop`);
        }
        if (action === 'freeze' && !(app.state === 'running' && app.connections === 0) && app.state !== 'frozen') {
          throw new BootosError('APP_STATE', `${name} is ${app.state} with ${app.connections} open connection(s): only an idle running app can be frozen`);
        }
      },
      action: async (name, action) => {
        const app = this.app(name);
        if (action === 'start') await app.start();
        else if (action === 'stop') await app.stop();
        else await app.freeze();
      },
    };
  }

  // ── shutdown ───────────────────────────────────────────────────────────────────────────────────────────────────

  /** Stops every app cleanly (SIGTERM, grace, SIGKILL), removes their networks, closes the API. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    this.loop.stop();
    this.memory.close();
    await this.loop.finished();
    await Promise.all(this.listeners.map((l) => l.close()));
    for (const app of this.apps.values()) app.closed = true;
    await Promise.all([...this.apps.values()].map((a) => a.stop().catch((err) => this.log(`bootos-agent: ${a.name}: stop: ${(err as Error).message}`))));
    // An update under way gives up (its journal is finished at the next start); then anything it started is stopped.
    await Promise.all([...this.updaters.values()].map((u) => u.settled()));
    await Promise.all([...this.apps.values()].map((a) => a.stop().catch(() => {})));
    await Promise.all([...this.networks].map((n) => n.close().catch(() => {})));
    await this.api?.close();
  }
}
