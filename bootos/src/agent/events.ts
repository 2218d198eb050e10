// The agent's event stream, as /api/events sends it: `apps` (the body of /api/apps, throttled) whenever something in
// it changed, `step` (one line of what happens, also written to the log) for every step of an app or the agent, and
// `screen` (a key meant for the device's own screen, sent to the display app alone).
// The last steps are kept (GET /api/activity), so that a kiosk that reloads shows what happened before.
export type EventName = 'apps' | 'step' | 'screen';

/** One step, as `step` events and GET /api/activity carry it. `seq` grows by one per step of this agent run. */
export interface StepEntry {
  seq: number;
  /** When it happened (ISO 8601, the agent's clock). */
  at: string;
  app: string;
  message: string;
}

export type Listener = (event: EventName, data: unknown) => void;

export class Events {
  private readonly subscribers = new Set<Listener>();
  private emitTimer: NodeJS.Timeout | null = null;
  private emitDirty = false;
  private readonly recent: StepEntry[] = [];
  private seq = 0;

  constructor(
    /** The body of `apps` events (/api/apps). */
    private readonly apps: () => unknown,
    private readonly throttleMs: number,
    private readonly log: (line: string) => void,
    /** Steps kept for activity() (limits.activityLines). */
    private readonly keepSteps: number,
  ) {}

  /** Calls `listener` with every event; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  private emit(event: EventName, data: unknown): void {
    for (const listener of this.subscribers) listener(event, data);
  }

  /** Something in /api/apps changed: send `apps` now, then at most once per throttleMs while changes go on. */
  changed(): void {
    if (this.emitTimer) {
      this.emitDirty = true;
      return;
    }
    this.emit('apps', this.apps());
    this.emitTimer = setTimeout(() => {
      this.emitTimer = null;
      if (this.emitDirty) {
        this.emitDirty = false;
        this.changed();
      }
    }, this.throttleMs);
    this.emitTimer.unref();
  }

  /** Calls `listener` with every step (as /api/events sends them); returns the unsubscribe function. */
  onStep(listener: (app: string, message: string) => void): () => void {
    return this.subscribe((event, data) => {
      if (event === 'step') listener((data as { app: string }).app, (data as { message: string }).message);
    });
  }

  step(app: string, message: string): void {
    this.log(`bootos-agent: ${app}: ${message}`);
    const entry: StepEntry = { seq: ++this.seq, at: new Date().toISOString(), app, message };
    this.recent.push(entry);
    if (this.recent.length > this.keepSteps) this.recent.splice(0, this.recent.length - this.keepSteps);
    this.emit('step', entry);
  }

  /** A key meant for the device's own screen (`home`: back to the kiosk); api.ts sends it to the display app alone. */
  screen(key: 'home'): void {
    this.emit('screen', { key });
  }

  /** The last steps (at most keepSteps), oldest first. */
  activity(): StepEntry[] {
    return [...this.recent];
  }
}
