// The channel loop: verifies the device's channel at start-up (retrying with a doubling delay until it is), then
// watches it (ChannelWatcher) and hands every newly verified channel to the agent. ChannelStatus is what /api/apps
// shows of it: `ok`, `retrying` (the registry was not reached) or `error` (what it served was refused).
import type { ChannelState } from './api/states.js';
import { agentError, BootosError, isRefusal, type ErrorCode } from '../../../fetcher/src/core/error.js';
import { type RegistrySource } from '../../../fetcher/src/source/source.js';
import type { Channel } from '../../../fetcher/src/formats/trust-docs.js';
import type { Trust } from '../../../fetcher/src/trust/trust.js';
import type { AgentConfig } from './config.js';
import { ChannelWatcher } from './watcher.js';

export interface ChannelStatus {
  name: string;
  version: number | null;
  state: ChannelState;
  error: { code: ErrorCode; message: string } | null;
  retryInMs: number | null;
  checkedAt: string | null;
}

/** What the loop needs from the agent. */
export interface ChannelLoopContext {
  config: AgentConfig;
  source: RegistrySource;
  /** The trust state (opened with the data root, before the loop's first check). */
  trust(): Trust;
  /** The channel verified at start-up: the profile's apps are added; resolves with how many apps the device has. */
  verified(channel: Channel): Promise<number>;
  /** A newly verified channel seen by the watcher: new apps are added, apps whose digest moved are updated. */
  moved(channel: Channel): Promise<void>;
  /** A check that found the channel unchanged. */
  unchanged(): void;
  step(app: string, message: string): void;
  changed(): void;
}

export class ChannelLoop {
  readonly status: ChannelStatus;
  /** The last verified channel. */
  channel: Channel | null = null;
  watcher: ChannelWatcher | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs: number;
  private refreshing: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly ctx: ChannelLoopContext) {
    this.retryMs = ctx.config.limits.channelRetryMinMs;
    this.status = { name: ctx.config.channel, version: null, state: 'retrying', error: null, retryInMs: null, checkedAt: null };
  }

  /** Runs `opening` (the data root and the trust state in it), then the first check if it resolved true. */
  start(opening: Promise<boolean>): void {
    this.refreshing = opening.then((ok) => (ok ? this.refresh() : undefined)).finally(() => (this.refreshing = null));
  }

  /** Resolves when the channel has been verified and every app listens (or the first attempt failed). */
  async settled(): Promise<void> {
    while (this.refreshing) await this.refreshing;
  }

  /** The loop cannot start (the data root or the trust state in it is unusable): shown as refused, never retried. */
  halt(failure: BootosError): void {
    Object.assign(this.status, { state: 'error', error: { code: failure.code, message: failure.message }, retryInMs: null, checkedAt: new Date().toISOString() });
    this.ctx.step('agent', `${failure.code}: ${failure.message}`);
    this.ctx.changed();
  }

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    const c = this.ctx.config;
    try {
      const channel = await this.ctx.trust().fetchChannel(this.ctx.source, c.channel);
      this.channel = channel;
      const apps = await this.ctx.verified(channel);
      Object.assign(this.status, { version: channel.signed.version, state: 'ok', error: null, retryInMs: null, checkedAt: new Date().toISOString() });
      this.retryMs = c.limits.channelRetryMinMs;
      this.ctx.step('agent', `channel ${c.channel} version ${channel.signed.version}: ${apps} app(s) of profile ${c.profile}`);
      this.startWatching();
    } catch (err) {
      if (this.stopped) return; // aborted by the agent stopping
      // Network failures are coded where they happen; anything uncoded is the device's own (a full data root is
      // NO_SPACE, a read-only state folder AGENT_ERROR), never labelled NETWORK.
      err = agentError(err, `channel ${c.channel}`);
      const code: ErrorCode = (err as BootosError).code;
      const delay = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, c.limits.channelRetryMaxMs);
      Object.assign(this.status, {
        state: isRefusal(code) ? 'error' : 'retrying',
        error: { code, message: (err as Error).message },
        retryInMs: delay,
        checkedAt: new Date().toISOString(),
      });
      this.ctx.step('agent', `channel ${c.channel}: ${code}: ${(err as Error).message}; retrying in ${delay} ms`);
      if (!this.stopped) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.refreshing = this.refresh().finally(() => (this.refreshing = null));
        }, delay);
      }
    }
    this.ctx.changed();
  }

  private startWatching(): void {
    if (this.watcher || this.stopped) return;
    const c = this.ctx.config;
    this.watcher = new ChannelWatcher({
      source: this.ctx.source,
      trust: this.ctx.trust(),
      channel: c.channel,
      maxChannelBytes: c.limits.maxChannelBytes,
      intervalMs: c.limits.channelPollIntervalMs,
      jitterMs: c.limits.channelPollJitterMs,
      onChannel: (channel) => this.moved(channel),
      onUnchanged: () => {
        this.ctx.unchanged();
        // An unreachable registry answers again; refused bytes still served stay reported.
        if (this.status.state === 'retrying') Object.assign(this.status, { state: 'ok', error: null, retryInMs: null });
        this.status.checkedAt = new Date().toISOString();
        this.ctx.changed();
      },
      onError: (err) => {
        if (this.stopped) return; // the poll was aborted by the agent stopping
        Object.assign(this.status, {
          // The registry answered, but what it served was refused (as opposed to not reaching it).
          state: isRefusal(err.code) ? 'error' : 'retrying',
          error: { code: err.code, message: err.message },
          retryInMs: c.limits.channelPollIntervalMs || null,
          checkedAt: new Date().toISOString(),
        });
        this.ctx.step('agent', `channel ${c.channel}: ${err.code}: ${err.message}; nothing changed (version ${this.status.version} stays)`);
        this.ctx.changed();
      },
    });
    this.watcher.start();
  }

  private async moved(channel: Channel): Promise<void> {
    const before = this.status.version;
    this.channel = channel;
    Object.assign(this.status, { version: channel.signed.version, state: 'ok', error: null, retryInMs: null, checkedAt: new Date().toISOString() });
    if (before !== channel.signed.version) this.ctx.step('agent', `channel ${this.ctx.config.channel} moved to version ${channel.signed.version}`);
    await this.ctx.moved(channel);
    this.ctx.changed();
  }

  /** Polls the channel now (the timer does it every channelPollIntervalMs). */
  async poll(): Promise<void> {
    if (!this.watcher) throw new BootosError('APP_STATE', 'the channel has not been verified yet');
    await this.watcher.poll();
  }

  /** No retry, no poll any more (finished() waits for a check under way). */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watcher?.stop();
  }

  /** Resolves once the first verification and any poll under way are over. */
  async finished(): Promise<void> {
    await this.refreshing?.catch(() => {});
    await this.watcher?.settled();
  }
}
