// The crash-loop policy of one app: crashLoopCount unexpected exits within crashWindowMs make the app `failed`, and
// connections are refused until a backoff has passed. The backoff doubles at each loop (crashBackoffMinMs up to
// crashBackoffMaxMs) and starts again from the minimum after a run that lasted longer than the window.
import type { ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { AgentLimits } from '../config.js';

export type CrashLimits = Pick<AgentLimits, 'crashWindowMs' | 'crashLoopCount' | 'crashBackoffMinMs' | 'crashBackoffMaxMs'>;

export class CrashPolicy {
  private crashes: number[] = [];
  private failedUntil = 0;
  private backoffMs: number;

  constructor(private readonly limits: CrashLimits) {
    this.backoffMs = limits.crashBackoffMinMs;
  }

  /** A stop that was asked for, of a run started at `startedAt`: a long run resets the backoff. */
  stopped(startedAt: number): void {
    if (Date.now() - startedAt > this.limits.crashWindowMs) this.backoffMs = this.limits.crashBackoffMinMs;
  }

  /**
   * An exit nobody asked for. Null if the app may be restarted by the next connection; else the crash loop it made
   * (how many exits, and the backoff before a connection may start it again).
   */
  crashed(): { exits: number; backoffMs: number } | null {
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < this.limits.crashWindowMs), now];
    if (this.crashes.length < this.limits.crashLoopCount) return null;
    const loop = { exits: this.crashes.length, backoffMs: this.backoffMs };
    this.failedUntil = now + this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.limits.crashBackoffMaxMs);
    this.crashes = [];
    return loop;
  }

  /** Milliseconds until a connection may start a failed app again (0: now). */
  waitMs(): number {
    return Math.max(0, this.failedUntil - Date.now());
  }

  /** Someone asked for a start (POST start, a rollback): the backoff does not hold it back. */
  clear(): void {
    this.failedUntil = 0;
  }
}

/** What an exit nobody asked for was: an OOM kill (the cgroup counted one) or a crash, with the sentence to show. */
export function exitFailure(o: { app: string; code: number; oom: number; memoryBytes: number; wasReady: boolean }): { code: ErrorCode; message: string } {
  if (o.oom > 0) return { code: 'APP_OOM', message: `${o.app} exceeded its memory limit of ${Math.round(o.memoryBytes / 1048576)} MiB and was killed` };
  return { code: 'APP_CRASHED', message: `${o.app} exited with status ${o.code}${o.wasReady ? '' : ' while starting'}` };
}
