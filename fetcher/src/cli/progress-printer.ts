// Pull progress on a terminal (a redrawn bar) or in a log (one plain line per 10 % step).
import type { PullProgress } from '../store/progress.js';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/**
 * A progress renderer for `out` (stderr): a redrawn bar on a terminal, otherwise one plain line per 10 % step.
 * Returns the callback to pass as onProgress and a function that ends the display.
 */
export function progressPrinter(out: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): { onProgress: (p: PullProgress) => void; end: () => void } {
  const started = now();
  let lastStep = -1;
  let drawn = false;
  const rate = (done: number) => {
    const seconds = (now() - started) / 1000;
    return seconds > 0 ? `${formatBytes(Math.round(done / seconds))}/s` : '';
  };
  const onProgress = (p: PullProgress) => {
    const fraction = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 1;
    if (out.isTTY) {
      const width = Math.max(10, Math.min(40, (out.columns ?? 80) - 50));
      const filled = Math.round(fraction * width);
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      out.write(`\r${p.image} [${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${formatBytes(p.doneBytes)}/${formatBytes(p.totalBytes)} ${rate(p.doneBytes)}\x1b[K`);
      drawn = true;
      return;
    }
    const step = Math.floor(fraction * 10);
    if (step === lastStep) return;
    lastStep = step;
    out.write(`${p.image}: ${step * 10}% ${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)} ${rate(p.doneBytes)}\n`);
  };
  return {
    onProgress,
    end: () => {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}
