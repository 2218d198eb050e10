// Runs a sample process image's server on the host, the way a device would get it: publish the image folder with
// the real publisher, verify the signed channel, resolve the image and fetch its layer by digest, unpack the layer,
// then start the entrypoint with the host's node (PORT=0, DATA_DIR=<temp>) and wait for its "listening on" line.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import type { ImageConfig } from '../../fetcher/src/formats/image-config.js';
import { resolveImage } from '../../fetcher/src/trust/resolve.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { Trust, fetchVerifiedBlob } from '../../fetcher/src/trust/trust.js';
import { makeRegistry, tempDir, type TestRegistry } from './registry.js';

export interface UnpackedImage {
  registry: TestRegistry;
  config: ImageConfig;
  /** The image's root filesystem, unpacked from its verified layer. */
  rootfs: string;
}

export async function publishAndUnpack(name: string): Promise<UnpackedImage> {
  const registry = await makeRegistry({ images: [name] });
  const source = new DirSource(registry.dir);
  const trust = await Trust.open({ initialRoot: registry.rootBytes });
  const channel = await trust.fetchChannel(source, 'stable');
  const image = await resolveImage(source, channel.signed, name);
  const rootfs = join(await tempDir(`bootos-rootfs-${name}-`), 'rootfs');
  for (const layer of image.manifest.layers) {
    await untar(gunzipSync(await fetchVerifiedBlob(source, layer, `${name} layer`)), rootfs);
  }
  return { registry, config: image.config, rootfs };
}

/** Unpacks our own (verified) layer: directories and regular files only, which is all the publisher writes. */
async function untar(tar: Buffer, root: string): Promise<void> {
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const path = join(root, entry.header.name);
      if (!path.startsWith(`${root}/`)) throw new Error(`layer entry leaves the root: ${entry.header.name}`);
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (entry.header.type === 'directory') await mkdir(path, { recursive: true });
      else if (entry.header.type === 'file') {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, Buffer.concat(chunks), { mode: entry.header.mode ?? 0o644 });
      }
    }
  })();
  ex.end(tar);
  await done;
}

export interface RunningApp {
  url: string;
  port: number;
  process: ChildProcess;
  /** Every stdout line so far. */
  stdout: string[];
  /** Resolves with the first stdout line matching `pattern` (already printed or still to come). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts the image's entrypoint with the host's node; absolute paths in the entrypoint are taken inside `rootfs`. */
export async function runApp(image: UnpackedImage, options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<RunningApp> {
  const [program, ...args] = image.config.entrypoint;
  if (program !== 'node') throw new Error(`runApp runs node images only, not ${program}`);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const pair of image.config.env) {
    const at = pair.indexOf('=');
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  Object.assign(env, { PORT: '0', ...(options.dataDir ? { DATA_DIR: options.dataDir } : {}), ...options.env });
  const child = spawn(process.execPath, args.map((a) => (a.startsWith('/') ? join(image.rootfs, a) : a)), {
    cwd: join(image.rootfs, image.config.workdir),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines);
    for (const wake of waiters) wake();
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;

  const waitForLine = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = stdout.find((l) => pattern.test(l));
        if (line === undefined) return false;
        cleanup();
        resolve(line);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stdout: ${stdout.join(' | ')}; stderr: ${stderr}`));
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`the app exited before printing ${pattern}; stderr: ${stderr}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      if (check()) return;
      if (child.exitCode !== null || child.signalCode !== null) return onExit();
      waiters.add(check);
      child.once('exit', onExit);
    });

  const listening = await waitForLine(/listening on (\d+)/);
  const port = Number(/listening on (\d+)/.exec(listening)![1]);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    stdout,
    waitForLine,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const [code] = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
