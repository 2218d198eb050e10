// Start-up timing for `bootos.debug=1`: Node's own phases (performance.nodeTiming) and the agent's marks (bundle
// loaded, config read, data root, store opened, listening, ready), one console line each, in milliseconds since the
// process started: `bootos: t+1234ms listening`. Marks before the configuration is read are kept and printed then.
// The global `performance` (not node:perf_hooks, whose import loads 8 more of Node's modules at start-up).
import { readFileSync } from 'node:fs';
import type { Performance as NodePerformance } from 'node:perf_hooks';

const kept: Array<{ at: number; label: string }> = [];
let write: ((line: string) => void) | null = null;

function line(at: number, label: string): string {
  return `bootos: t+${Math.round(at)}ms ${label}`;
}

/** A start-up mark: printed at once when timing is on, else kept (a handful) until printTiming() or forever. */
export function mark(label: string): void {
  const at = performance.now();
  if (write) write(line(at, label));
  else if (kept.length < 32) kept.push({ at, label });
}

/** Turns timing on: prints Node's phases and the marks so far, then every further mark as it happens. */
export function printTiming(out: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (write) return;
  write = out;
  // The kernel's uptime when the process started ties these lines to init's ("0.93s /usr mounted").
  const uptime = Number(/^[\d.]+/.exec(readOptional('/proc/uptime'))?.[0]);
  const since = Number.isFinite(uptime) ? ` at uptime ${(uptime - performance.now() / 1000).toFixed(2)}s` : '';
  out(line(0, `process start${since} (node ${process.version})`));
  const node = (performance as unknown as NodePerformance).nodeTiming;
  for (const phase of ['nodeStart', 'v8Start', 'environment', 'bootstrapComplete'] as const) out(line(node[phase], `node ${phase}`));
  for (const m of kept.splice(0)) out(line(m.at, m.label));
}

function readOptional(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
