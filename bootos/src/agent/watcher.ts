// Watching the channel: a conditional GET of channels/<name>.json every interval ± jitter (so that a fleet does not
// poll in step), with the ETag of the last copy read: an unchanged channel costs one round trip. A changed one goes
// through the full trust checks (root rotations first, then every check of Trust.acceptChannel) before anyone sees
// it; one that fails them changes nothing and is reported. The same bytes are never verified twice.
import { createHash } from 'node:crypto';
import { agentError, BootosError, isTransient } from '../../../fetcher/src/core/error.js';
import { type RegistrySource } from '../../../fetcher/src/source/source.js';
import type { Channel } from '../../../fetcher/src/formats/trust-docs.js';
import type { Trust } from '../../../fetcher/src/trust/trust.js';

export interface WatcherOptions {
  source: RegistrySource;
  trust: Trust;
  channel: string;
  /** The channel document's byte cap (limits.maxChannelBytes, as Trust.fetchChannel applies it). */
  maxChannelBytes: number;
  intervalMs: number;
  jitterMs: number;
  random?: () => number;
  /** A verified channel whose bytes differ from the last one seen. */
  onChannel(channel: Channel): Promise<void>;
  /** The channel could not be read, or what was read failed verification (nothing changed). */
  onError(err: BootosError): void;
  /** A check that found the channel unchanged. */
  onUnchanged(): void;
}

/** The delay before the next poll: interval ± jitter, uniformly. */
export function pollDelay(intervalMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(intervalMs - jitterMs + random() * 2 * jitterMs));
}

export class ChannelWatcher {
  private etag: string | null = null;
  private lastHash: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;
  polls = 0;

  constructor(private readonly options: WatcherOptions) {}

  /** Starts polling; `acceptedBytes`, when known, is the channel already verified (not verified again). */
  start(acceptedBytes?: Buffer): void {
    if (acceptedBytes) this.lastHash = hash(acceptedBytes);
    if (this.options.intervalMs > 0) this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const { intervalMs, jitterMs, random } = this.options;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.poll().finally(() => this.schedule());
    }, pollDelay(intervalMs, jitterMs, random));
    this.timer.unref();
  }

  /** One check now (also what the timer runs); concurrent calls share it. */
  poll(): Promise<void> {
    this.polling ??= this.check().finally(() => (this.polling = null));
    return this.polling;
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
    this.polls++;
    const { source, trust, channel: name } = this.options;
    const path = `channels/${name}.json`;
    let etag: string | null = null;
    try {
      const result = await source.getIfChanged(path, this.options.maxChannelBytes, this.etag);
      if (!result.changed) return this.options.onUnchanged();
      if (!result.bytes) throw new BootosError('NOT_FOUND', `${source.location}: no channel ${name} (${path})`);
      etag = result.etag;
      const digest = hash(result.bytes);
      if (digest === this.lastHash) {
        this.etag = etag;
        return this.options.onUnchanged();
      }
      // The full checks, as at boot: root rotations first, then signatures, name, rollback, freeze, consistency.
      await trust.updateRoot(source);
      const channel = await trust.acceptChannel(result.bytes, name);
      this.etag = etag;
      this.lastHash = digest;
      await this.options.onChannel(channel);
    } catch (err) {
      const e = agentError(err, `channel ${name}`);
      // Refused bytes are not checked again (their ETag is kept); an unreachable registry is asked again.
      if (!isTransient(e.code) && etag !== null) this.etag = etag;
      this.options.onError(e);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  async settled(): Promise<void> {
    await this.polling?.catch(() => {});
  }
}

function hash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
