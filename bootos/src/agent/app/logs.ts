// An app's output (stdout and stderr), split into lines, the last N kept, each at most MAX_LINE_CHARS long.
//
// Memory and CPU are bounded whatever an app writes: a line longer than the cap is cut there (its head kept, marked
// with CUT_MARK) and the rest of it dropped as it arrives, never buffered; each chunk is scanned once for newlines.
// So the ring holds at most max × MAX_LINE_CHARS characters, and a stream holds at most MAX_LINE_CHARS pending.
import type { Readable } from 'node:stream';

/** Longest line kept (characters). */
export const MAX_LINE_CHARS = 4096;
export const CUT_MARK = ' …[line cut]';

export class LogRing {
  private lines: string[] = [];
  private pendingChars = 0;
  private watchers = new Set<(line: string) => void>();

  constructor(
    private readonly max: number,
    private readonly echo?: (line: string) => void,
  ) {}

  add(line: string): void {
    const clipped = line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}${CUT_MARK}` : line;
    this.lines.push(clipped);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
    this.echo?.(clipped);
    for (const watcher of this.watchers) watcher(clipped);
  }

  /** Resolves true when a line matching `match` arrives (from now on), false after timeoutMs. */
  waitFor(match: (line: string) => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((done) => {
      const watcher = (line: string) => {
        if (!match(line)) return;
        finish(true);
      };
      const finish = (seen: boolean) => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
        done(seen);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.watchers.add(watcher);
    });
  }

  /** Characters held back, over all followed streams, waiting for the end of their line. */
  get pending(): number {
    return this.pendingChars;
  }

  /** Collects a stream's lines until it ends. */
  follow(stream: Readable): void {
    stream.setEncoding('utf8');
    let partial = '';
    // Inside a line that was already cut and logged: drop its bytes until its newline.
    let cutting = false;
    const hold = (text: string) => {
      this.pendingChars += text.length - partial.length;
      partial = text;
    };
    stream.on('data', (chunk: string) => {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf('\n', start);
        const piece = nl < 0 ? chunk.slice(start) : chunk.slice(start, nl);
        if (!cutting) {
          const room = MAX_LINE_CHARS - partial.length;
          if (piece.length > room) {
            this.add(`${partial}${piece.slice(0, room)}${CUT_MARK}`);
            hold('');
            cutting = true;
          } else {
            hold(partial + piece);
          }
        }
        if (nl < 0) break;
        if (!cutting) this.add(partial.replace(/\r$/, ''));
        hold('');
        cutting = false;
        start = nl + 1;
      }
    });
    stream.on('end', () => {
      if (partial && !cutting) this.add(partial);
      hold('');
    });
  }

  tail(n = this.max): string[] {
    return this.lines.slice(-n);
  }
}
