// Runs a real server process (docker-registry, nginx, containerd) for a test: waits until it is ready,
// keeps its output, and stops it in teardown (SIGTERM, then SIGKILL after a delay, as execa does).
import { spawn, type ChildProcess } from 'node:child_process';

export interface Daemon {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

export async function startDaemon(
  command: string,
  args: string[],
  options: { ready: (output: string) => boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<Daemon> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
  let output = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const daemon: Daemon = {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${command} not ready after ${options.timeoutMs ?? 15000} ms:\n${output}`)), options.timeoutMs ?? 15000);
    const check = () => {
      if (options.ready(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      void daemon.stop().then(() => reject(err));
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      check();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`${command} exited (${code ?? signal}) before it was ready:\n${output}`)));
    check();
  });
  return daemon;
}
