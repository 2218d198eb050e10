// The one way to run an external tool (apt-get, npm, mkfs and mtools for the OS build; runc and ip for the agent)
// with captured output. A failure is a coded error carrying the command and the tail of its stderr.
import { spawn } from 'node:child_process';
import { BootosError, type ErrorCode } from './error.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Error code when the tool fails (default OS_TOOL_FAILED). */
  code?: ErrorCode;
  input?: string | Buffer;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
  /** How the command is named in an error (default: the command line), e.g. "runc kill app-1". */
  what?: string;
  /** Most bytes of stdout kept; a tool that writes more is killed and the run fails (default: no cap). */
  maxOutputBytes?: number;
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
    let outBytes = 0;
    let overflow = false;
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (options.maxOutputBytes !== undefined && outBytes > options.maxOutputBytes) {
        overflow = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) =>
      reject(new BootosError(options.code ?? 'OS_TOOL_FAILED', `${options.what ?? cmd}: cannot run ${cmd} (${(e as Error).message}); is it installed?`, { cause: e })),
    );
    child.on('close', (exitCode) => {
      if (overflow) {
        return reject(new BootosError(options.code ?? 'OS_TOOL_FAILED', `${options.what ?? cmd}: wrote more than ${options.maxOutputBytes} bytes of output`));
      }
      const result = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), exitCode: exitCode ?? -1 };
      if ((options.okCodes ?? [0]).includes(result.exitCode)) return resolve(result);
      const tail = result.stderr.trim().split('\n').slice(-6).join('\n');
      const message = options.what ? `${options.what}: ${tail || `exited with ${exitCode}`}` : `${cmd} ${args.join(' ')} exited with ${exitCode}${tail ? `:\n${tail}` : ''}`;
      reject(new BootosError(options.code ?? 'OS_TOOL_FAILED', message));
    });
    child.stdin.end(options.input);
  });
}
