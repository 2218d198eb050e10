// The agent's event stream, as /api/events sends it: `apps` (the body of /api/apps, throttled) whenever something in
// it changed, and `step` (one line of what happens, also written to the log) for every step of an app or the agent.
export type EventName = 'apps' | 'step';

export type Listener = (event: EventName, data: unknown) => void;

export class Events {
  private readonly subscribers = new Set<Listener>();
  private emitTimer: NodeJS.Timeout | null = null;
  private emitDirty = false;

  constructor(
    /** The body of `apps` events (/api/apps). */
    private readonly apps: () => unknown,
    private readonly throttleMs: number,
    private readonly log: (line: string) => void,
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
    this.emit('step', { app, message });
  }
}
