// The device agent's composition root: builds the parts and wires them together. The local API and the kiosk
// (api/), the event stream (events.ts), the channel loop that verifies and watches the channel (channel.ts), the apps
// of the profile with their updaters and listeners (app-set.ts), the memory-pressure watch; the data root and the
// trust state in it are opened in the background while the API already answers.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { agentError, BootosError, isBootosError, listenError } from '../../../fetcher/src/core/error.js';
import { reclaimDeadSlots } from './runtime/network.js';
import { openSource } from '../../../fetcher/src/source/open-source.js';
import { type RegistrySource } from '../../../fetcher/src/source/source.js';
import type { Channel } from '../../../fetcher/src/formats/trust-docs.js';
import { Store } from '../../../fetcher/src/store/store.js';
import { Trust } from '../../../fetcher/src/trust/trust.js';
import { startApi, type ApiBackend, type ApiServer } from './api/api.js';
import { DeviceReader } from './api/device.js';
import { newAgentId, type App } from './app/app.js';
import { MemoryPressureWatch } from './app/idle.js';
import { AppSet } from './app-set.js';
import { ChannelLoop, type ChannelStatus } from './channel.js';
import type { AgentConfig } from './config.js';
import { dataRootReady } from './data-root.js';
import { Events } from './events.js';
import { Runc } from './runtime/runc.js';
import { mark } from './timing.js';
import { UpdateStore } from './update/journal.js';
import type { Updater } from './update/updater.js';
import type { ChannelWatcher } from './watcher.js';
import { OsUpdater } from './os/os-updater.js';
import { ensureEsp } from './os/esp-device.js';
import { profileApps } from '../../../fetcher/src/formats/trust-docs.js';
import { DeviceIdentity } from './identity/identity.js';
import { FileKeyStore } from './identity/key-store.js';
import { Enrolment } from './identity/enrolment.js';
import { identityCertificate } from './identity/certificate.js';

/** The device identity's file in the agent's state folder (docs/formats.md, "The device identity"). */
export const IDENTITY_FILE = 'identity.json';

export class Agent {
  readonly agentId = newAgentId();
  readonly runc: Runc;
  readonly store: Store;
  api!: ApiServer;

  /** The registry; opened again with the identity's client certificate once the identity is open (registryClientCert). */
  private source: RegistrySource;
  private registryCa: Buffer | undefined;
  private trust!: Trust;
  private readonly updateStore: UpdateStore;
  private readonly events: Events;
  private readonly loop: ChannelLoop;
  private readonly appSet: AppSet;
  private readonly startedAt = Date.now();
  private readonly memory: MemoryPressureWatch;
  private readonly device: DeviceReader;
  private stopped = false;
  private readonly stopping = new AbortController();
  /** Opened with the data root (its state is there); null before. */
  private os: OsUpdater | null = null;
  /** The device identity, opened with the data root (null before, or when its file is damaged: identityError). */
  identity: DeviceIdentity | null = null;
  private identityError: BootosError | null = null;
  private enrolment: Enrolment | null = null;
  private askRestart!: (pending: { version: string; slot: string }) => void;
  /**
   * Resolves when POST /api/os/restart was accepted and the apps were stopped: `bootos agent` then restarts the
   * device (the agent itself never reboots anything).
   */
  readonly restartRequested = new Promise<{ version: string; slot: string }>((resolve) => (this.askRestart = resolve));
  private fail!: (err: BootosError) => void;
  /**
   * Resolves (never rejects) with the error that keeps the agent from going on after start() returned: the data root
   * never came (DATA_ROOT_TIMEOUT) or cannot be used (DATA_ROOT_INVALID), or the trust state in it refuses to load.
   * `bootos agent` then exits with it.
   */
  readonly failed = new Promise<BootosError>((resolve) => (this.fail = resolve));

  private constructor(
    readonly config: AgentConfig,
    private readonly log: (line: string) => void,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the parts' contexts read the current source
    const agent = this;
    this.runc = new Runc(config.runc, join(config.runDir, 'runc'), config.limits.maxRuncOutputBytes);
    this.store = new Store(config.storeDir, config.limits);
    this.source = openSource(config.registry, { limits: config.limits });
    this.updateStore = new UpdateStore(config.stateDir);
    // Storage is the data root: the filesystems of the apps' /data and of the store (not the OS's /usr).
    this.device = new DeviceReader({ arch: config.arch, storage: [config.dataRoot, config.storeDir] });
    this.events = new Events(() => this.appsJSON(), config.limits.eventsThrottleMs, log, config.limits.activityLines);
    this.appSet = new AppSet({
      config,
      agentId: this.agentId,
      sealKey: () => this.identity?.sealPrivateKey,
      runc: this.runc,
      get source() {
        return agent.source;
      },
      store: this.store,
      updateStore: this.updateStore,
      channel: () => this.loop.channel,
      step: (app, message) => this.step(app, message),
      changed: () => this.changed(),
      log,
      homePressed: () => {
        this.step('agent', "the screen's home key: back to the kiosk");
        this.events.screen('home');
      },
      screenUp: (address) => this.api?.screenStreamFrom(address) ?? false,
    });
    this.loop = new ChannelLoop({
      config,
      get source() {
        return agent.source;
      },
      trust: () => this.trust,
      verified: async (channel) => {
        await this.appSet.addNew(channel);
        await this.osChannelVerified(channel);
        // The devices document is read with the channel (after the root rotations that the channel check followed).
        await this.enrolment?.check();
        return this.apps.size;
      },
      moved: async (channel) => {
        await this.appSet.channelMoved(channel);
        await this.osChannelVerified(channel);
        await this.enrolment?.check();
      },
      unchanged: () => {
        this.appSet.retryUpdates();
        this.os?.retry();
        void this.enrolment?.check();
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
    // App networks of agents that died without closing them (slots are shared by every agent on the machine).
    for (const slot of await reclaimDeadSlots().catch(() => [])) this.log(`bootos-agent: reclaimed the network slot ${slot} of a dead agent`);
    let rootBytes: Buffer;
    try {
      rootBytes = await readFile(c.rootFile);
    } catch (err) {
      throw new BootosError('FILE_NOT_FOUND', `trusted root not found: ${c.rootFile}`, { cause: err });
    }
    if (c.registryCa) {
      try {
        this.registryCa = await readFile(c.registryCa);
      } catch (err) {
        throw new BootosError('FILE_NOT_FOUND', `the registry's CA bundle not found: ${c.registryCa}`, { cause: err });
      }
      this.reopenSource();
    }
    // The API and the kiosk need nothing from the data root: they answer while /init may still be mounting it.
    this.api = await startApi({ host: c.apiHost, port: c.apiPort, kioskDir: c.kioskDir, backend: this.backend(), limits: c.limits, log: this.log }).catch((err: unknown) => {
      const where = `${c.apiHost.includes(':') ? `[${c.apiHost}]` : c.apiHost}:${c.apiPort}`;
      throw listenError(err, `the API's address ${where}`, 'choose another with `apiPort` in agent.json or bootos.api_port= on the kernel command line (0 picks a free one)');
    });
    // apiPort 0 picked a free port: what the apps are told (the screen's kiosk URL) is the one listened on.
    if (c.apiPort === 0) c.apiPort = this.api.port;
    mark('listening');
    this.memory.start();
    const opening = this.openData(rootBytes).then(
      () => true,
      (err: unknown) => {
        if (this.stopped) return false;
        const failure = isBootosError(err) ? err : new BootosError('DATA_ROOT_INVALID', `cannot open the data root: ${(err as Error).message}`, { cause: err });
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
    this.trust = await Trust.open({ initialRoot: rootBytes, initialRootName: `trusted root ${c.rootFile}`, stateDir: c.stateDir, limits: c.limits });
    await this.openIdentity();
    mark('store opened');
    let espDir: string | null = null;
    if (c.bootSlot && c.espDir) {
      espDir = await ensureEsp(c.espDir).catch((err: unknown) => {
        this.step('os', `the EFI system partition cannot be used: ${(err as Error).message}`);
        return null;
      });
    }
    this.os = await OsUpdater.open({
      espDir,
      bootedSlot: c.bootSlot,
      stateDir: c.stateDir,
      store: this.store,
      source: this.source,
      arch: c.arch,
      limits: c.limits,
      changed: () => this.changed(),
      log: (message) => this.step('os', message),
    });
  }

  /**
   * The device identity: made at the first start on this data root, then kept. A damaged identity file does not stop
   * the apps: the device is then not enrolled and says why (IDENTITY_INVALID in /api/device).
   */
  private async openIdentity(): Promise<void> {
    const c = this.config;
    try {
      const { identity, made } = await DeviceIdentity.open(new FileKeyStore(join(c.stateDir, IDENTITY_FILE)));
      if (made) this.step('agent', `made the device identity ${identity.id}`);
      this.identity = identity;
      if (c.registryClientCert === 'identity') {
        const { cert, key } = identityCertificate(identity);
        this.reopenSource({ cert, key });
      }
      this.enrolment = new Enrolment({
        identity,
        source: this.source,
        trust: () => this.trust,
        maxDevicesBytes: c.limits.maxDevicesBytes,
        about: { hostname: hostname(), arch: c.arch },
        step: (message) => this.step('agent', message),
        changed: () => this.changed(),
      });
      // A saved document that cannot be read is as none: the next check fetches it again.
      await this.enrolment.loadSaved().catch(() => {});
    } catch (err) {
      this.identityError = agentError(err, 'the device identity');
      const without = c.registryClientCert === 'identity' ? '; the registry is asked without a client certificate' : '';
      this.step('agent', `${this.identityError.code}: ${this.identityError.message}${without}`);
    }
  }

  /** Opens the registry again with the CA bundle and a client certificate (nothing has been fetched yet). */
  private reopenSource(client: { cert?: string; key?: string } = {}): void {
    this.source.close();
    this.source = openSource(this.config.registry, { limits: this.config.limits, ca: this.registryCa, ...client });
  }

  /** What /api/device shows of the identity: null while the data root is opening. */
  identityJSON(): { identity: unknown; identityError: { code: string; message: string } | null } {
    const error = this.identityError ? { code: this.identityError.code, message: this.identityError.message } : null;
    return { identity: this.enrolment?.view() ?? null, identityError: error };
  }

  /** Checks the devices document now (tests; it is read with every channel check). */
  async checkEnrolment(): Promise<void> {
    await this.enrolment?.check();
  }

  /**
   * A verified channel for the OS updater: the boot is good once the channel verified and every app of the profile
   * listens (blessed: systemd-boot stops counting tries); a newer OS release is installed in the background.
   */
  private async osChannelVerified(channel: Channel): Promise<void> {
    const os = this.os;
    if (!os) return;
    let wanted: string[] = [];
    try {
      wanted = profileApps(channel.signed, this.config.profile).map((a) => a.image);
    } catch {
      return; // no such profile: not a good boot
    }
    if (wanted.every((name) => this.apps.has(name))) await os.bless();
    os.channelVerified(channel.signed);
  }

  /** Waits for an OS release install under way (tests). */
  async osSettled(): Promise<void> {
    await this.os?.settled();
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

  /** The apps of the profile, by name. */
  get apps(): Map<string, App> {
    return this.appSet.apps;
  }

  get updaters(): Map<string, Updater> {
    return this.appSet.updaters;
  }

  /** Polls the channel now (tests; the timer does it every channelPollIntervalMs) and waits for the updates it starts. */
  async checkChannel(): Promise<void> {
    await this.loop.poll();
    await this.appSet.updatesSettled();
    await this.enrolment?.settled();
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
      os: this.os?.status ?? null,
    };
  }

  private backend(): ApiBackend {
    return {
      apps: () => this.appsJSON(),
      device: async () => ({ ...(await this.device.read()), ...this.identityJSON() }),
      logs: (name) => this.appSet.get(name).logs.tail(),
      activity: () => this.events.activity(),
      uptimeSeconds: () => Math.round((Date.now() - this.startedAt) / 1000),
      os: () => this.os?.status ?? { bootedFrom: this.config.bootSlot ? 'disk' : 'other', slot: this.config.bootSlot, opening: true },
      checkOsRestart: () => {
        if (!this.os) throw new BootosError('OS_UPDATE_UNAVAILABLE', 'the OS updater is not open yet (the data root is still being mounted)');
        return this.os.checkRestart();
      },
      osRestart: async () => {
        const pending = this.os!.checkRestart();
        this.step('os', `restarting into OS release ${pending.version} (slot ${pending.slot}): stopping the apps first`);
        await this.stop();
        this.askRestart(pending);
      },
      onEvent: (listener) => this.events.subscribe(listener),
      isScreen: (address) => this.appSet.isScreen(address),
      checkAction: (name, action) => {
        const verdict = this.appSet.get(name).canDo(action);
        if (!verdict.ok) throw new BootosError('APP_STATE', verdict.reason);
      },
      action: async (name, action) => {
        const app = this.appSet.get(name);
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
    this.os?.close();
    // Aborts any fetch under way (a channel check, a poll, a pull), so that stopping never waits for a registry.
    this.source.close();
    await this.loop.finished();
    await this.appSet.close();
    await this.api?.close();
  }
}
