// An app's output (stdout and stderr), split into lines, the last N kept.
import type { Readable } from 'node:stream';

export class LogRing {
  private lines: string[] = [];
  private partial = new Map<Readable, string>();
  private watchers = new Set<(line: string) => void>();

  constructor(
    private readonly max: number,
    private readonly echo?: (line: string) => void,
  ) {}

  add(line: string): void {
    const clipped = line.length > 4096 ? `${line.slice(0, 4096)}…` : line;
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

  /** Collects a stream's lines until it ends. */
  follow(stream: Readable): void {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = ((this.partial.get(stream) ?? '') + chunk).split('\n');
      this.partial.set(stream, parts.pop()!);
      for (const line of parts) this.add(line.replace(/\r$/, ''));
    });
    stream.on('end', () => {
      const rest = this.partial.get(stream);
      if (rest) this.add(rest);
      this.partial.delete(stream);
    });
  }

  tail(n = this.max): string[] {
    return this.lines.slice(-n);
  }
}
