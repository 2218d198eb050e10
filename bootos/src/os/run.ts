// Runs the external tools the OS build uses (apt-get, npm, dpkg-deb, mkfs, mtools, sfdisk) with captured output.
// A failure is a coded error carrying the command and the tail of its stderr.
import { spawn } from 'node:child_process';
import { BootosError, type ErrorCode } from '../../../fetcher/src/core/error.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Error code when the tool fails (default OS_TOOL_FAILED). */
  code?: ErrorCode;
  input?: string | Buffer;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) =>
      reject(new BootosError(options.code ?? 'OS_TOOL_FAILED', `${cmd}: cannot run (${(e as Error).message}); is it installed?`, { cause: e })),
    );
    child.on('close', (exitCode) => {
      const result = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), exitCode: exitCode ?? -1 };
      if ((options.okCodes ?? [0]).includes(result.exitCode)) return resolve(result);
      const tail = result.stderr.trim().split('\n').slice(-6).join('\n');
      reject(new BootosError(options.code ?? 'OS_TOOL_FAILED', `${cmd} ${args.join(' ')} exited with ${exitCode}${tail ? `:\n${tail}` : ''}`));
    });
    child.stdin.end(options.input);
  });
}
