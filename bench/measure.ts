// Helpers shared by the benchmarks that run other programs: run one and keep its output, time a step, the CPU used by
// reaped children, the median, and a process's memory from /proc.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Runs a program to its end; resolves with its stdout, rejects with the tail of its stderr when it exits non-zero. */
export function sh(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${err.slice(-2000)}`))));
  });
}

/** Wall seconds that `fn` takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * CPU seconds (user + system) used by this process's reaped children and their children (cutime + cstime of
 * /proc/self/stat): on a shared machine a steadier measure of the work done than wall time.
 */
export async function childCpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command name start at field 3 (state); cutime and cstime are fields 16 and 17.
  return (Number(fields[16 - 3]) + Number(fields[17 - 3])) / 100;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export interface ProcessMemory {
  /** Proportional set size: each shared page divided among the processes that map it. */
  pssKiB: number;
  rssKiB: number;
  /** The anonymous part of the PSS (heaps, stacks): what the process adds beyond the files it maps. */
  pssAnonKiB: number;
}

/** One process's memory from /proc/PID/smaps_rollup (Linux ≥ 4.14; as root for another user's process). */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`/proc/${pid}/smaps_rollup has no ${name}`);
    return Number(m[1]);
  };
  return { pssKiB: field('Pss'), rssKiB: field('Rss'), pssAnonKiB: field('Pss_Anon') };
}
