// Pull progress: events of bytes done / total per image (PullProgress, consumed by the CLI, the agent and the
// kiosk), throttled at the source. The CLI draws them with cli/progress-printer.ts.

export interface PullProgress {
  image: string;
  doneBytes: number;
  totalBytes: number;
}

/** Counts bytes and calls `emit` at most every `intervalMs`, and always for the first and the final value. */
export class ProgressMeter {
  private done = 0;
  private lastEmit = 0;
  private emitted = false;

  constructor(
    readonly image: string,
    readonly totalBytes: number,
    private readonly emit: (p: PullProgress) => void,
    private readonly intervalMs = 100,
  ) {}

  get doneBytes(): number {
    return this.done;
  }

  add(bytes: number): void {
    this.done = Math.min(this.totalBytes, this.done + bytes);
    const now = Date.now();
    if (!this.emitted || this.done === this.totalBytes || now - this.lastEmit >= this.intervalMs) {
      this.emitted = true;
      this.lastEmit = now;
      this.emit({ image: this.image, doneBytes: this.done, totalBytes: this.totalBytes });
    }
  }

  /** Ends at 100 % (a cached root or layer counts as done). */
  complete(): void {
    if (this.done === this.totalBytes && this.emitted) return;
    this.done = this.totalBytes;
    this.emitted = true;
    this.emit({ image: this.image, doneBytes: this.done, totalBytes: this.totalBytes });
  }
}
