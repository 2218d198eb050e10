// The idle policy: per app, N seconds without an open connection → stop or freeze (image config, overridable by the
// device's profile); and under memory pressure, frozen apps are stopped, longest idle first.
import { readFile } from 'node:fs/promises';
import type { IdleAction } from '../../../../fetcher/src/formats/image-config.js';
import type { ProfileApp } from '../../../../fetcher/src/formats/trust-docs.js';

export interface IdlePolicy {
  /** 0 = never idle out. */
  afterSeconds: number;
  action: IdleAction;
}

/** The profile entry's idle wins over the image's. */
export function idlePolicy(image: IdlePolicy, entry: ProfileApp): IdlePolicy {
  return entry.idle ? { ...entry.idle } : { ...image };
}

/** One pending idle action; re-armed whenever the last connection closes. */
export class IdleTimer {
  private timer: NodeJS.Timeout | null = null;
  private deadline = 0;

  arm(afterMs: number, fire: () => void): void {
    this.cancel();
    this.deadline = Date.now() + afterMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      fire();
    }, afterMs);
    this.timer.unref();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Seconds until the action, or null when nothing is pending. */
  remainingSeconds(): number | null {
    return this.timer ? Math.max(0, Math.ceil((this.deadline - Date.now()) / 1000)) : null;
  }
}

export interface FrozenCandidate {
  name: string;
  state: string;
  lastActiveAt: number;
}

/** Frozen apps in the order memory pressure stops them: longest idle first. */
export function pressureVictims<T extends FrozenCandidate>(apps: T[]): T[] {
  return apps.filter((a) => a.state === 'frozen').sort((a, b) => a.lastActiveAt - b.lastActiveAt);
}

/** MemAvailable from /proc/meminfo, in bytes (Infinity when it cannot be read). */
export async function memAvailableBytes(file = '/proc/meminfo'): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : Infinity;
}

/**
 * Checks memory every intervalMs; while MemAvailable is below lowBytes, stops one frozen app (longest idle first)
 * per check, so each stop's effect is seen before the next.
 */
export class MemoryPressureWatch {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly options: {
      intervalMs: number;
      lowBytes: number;
      available?: () => Promise<number>;
      candidates: () => FrozenCandidate[];
      stop: (name: string) => Promise<void>;
      log: (message: string) => void;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check; returns the app stopped, if any. */
  async check(): Promise<string | null> {
    if (this.busy) return null;
    this.busy = true;
    try {
      const available = await (this.options.available ?? memAvailableBytes)();
      if (available >= this.options.lowBytes) return null;
      const victim = pressureVictims(this.options.candidates())[0];
      if (!victim) return null;
      this.options.log(`memory pressure: ${Math.round(available / 1048576)} MiB available, stopping frozen app ${victim.name}`);
      await this.options.stop(victim.name);
      return victim.name;
    } finally {
      this.busy = false;
    }
  }
}
