// Proves: a `bootos pull` killed with SIGKILL at random moments never leaves an unverified blob in blobs/ or a
// partial root in roots/, and the next pull resumes (a Range request) and completes with the right files.
// The registry is served slowly (about 8 MiB/s) so that the kills land before, during and after the download.
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '../../fetcher/src/store/store.js';
import { makeRegistry, REPO, tempDir } from '../support/registry.js';
import { slowServer } from '../support/slow-server.js';

const KILLS = 8;

async function imageDir(): Promise<{ dir: string; files: Map<string, Buffer> }> {
  const dir = await tempDir('bootos-kill-image-');
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 12; i++) files.set(`data/part${i}.bin`, randomBytes(512 * 1024));
  for (let i = 0; i < 200; i++) files.set(`small/f${i}.txt`, Buffer.from(`file ${i}\n`.repeat(i + 1)));
  for (const [name, bytes] of files) {
    await mkdir(join(dir, 'files', name, '..'), { recursive: true });
    await writeFile(join(dir, 'files', name), bytes);
  }
  await writeFile(join(dir, 'image.yaml'), 'name: big\nversion: 1.0.0\nruntime: node\nentrypoint: [node, -e, "0"]\nfiles:\n  - from: files\n    to: /app\n');
  return { dir, files };
}

function pull(args: string[]): { done: Promise<number | null>; kill(): void } {
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  return { done: new Promise((resolve) => child.on('close', (code) => resolve(code))), kill: () => child.kill('SIGKILL') };
}

test('SIGKILL at random moments leaves only verified blobs and complete roots; the next pull resumes', async (t) => {
  const t0 = Date.now();
  const image = await imageDir();
  const registry = await makeRegistry({ images: [image.dir] });
  const ranges: string[] = [];
  const server = await slowServer(registry.dir, ranges, 8);
  t.log(`registry ready in ${Date.now() - t0} ms`);
  const storeDir = await tempDir('bootos-kill-store-');
  const args = (store: string) => [join(REPO, 'bin/bootos.mjs'), 'pull', 'big', '--registry', server.url, '--root', join(registry.dir, 'root.json'), '--channel', 'stable', '--store', store];
  try {
    // How long one whole pull takes here: the kills are spread over that window.
    const reference = await tempDir('bootos-kill-ref-');
    const started = Date.now();
    t.is(await pull(args(reference)).done, 0);
    const fullMs = Date.now() - started;
    await rm(reference, { recursive: true, force: true });
    ranges.length = 0;

    const store = new Store(storeDir);
    for (let i = 0; i < KILLS; i++) {
      const child = pull(args(storeDir));
      const at = Math.round(fullMs * (0.15 + (0.8 * (i + Math.random())) / KILLS));
      const timer = setTimeout(() => child.kill(), at);
      const code = await child.done;
      clearTimeout(timer);
      t.log(`kill ${i + 1} at ${at} ms of ~${fullMs} ms: ${code === 0 ? 'finished first' : 'killed'}`);
      // Every committed blob verifies; every visible root is complete.
      t.deepEqual((await store.verify()).bad, []);
      for (const hex of await readdir(join(storeDir, 'roots'))) {
        for (const [name, bytes] of image.files) t.deepEqual(await readFile(join(storeDir, 'roots', hex, 'app', name)), bytes);
      }
      if (code === 0) {
        // Start the next rounds from scratch so that kills keep landing mid-pull.
        await rm(storeDir, { recursive: true, force: true });
      }
    }
    t.is(await pull(args(storeDir)).done, 0);
    const [hex] = await readdir(join(storeDir, 'roots'));
    for (const [name, bytes] of image.files) t.deepEqual(await readFile(join(storeDir, 'roots', hex!, 'app', name)), bytes);
    t.deepEqual((await store.verify()).bad, []);
    // At least one restarted pull picked up a partial download with a Range request instead of starting over.
    t.true(ranges.length > 0, 'a later pull resumed a partial blob');
  } finally {
    server.close();
    await registry.cleanup();
    await rm(storeDir, { recursive: true, force: true });
    await rm(image.dir, { recursive: true, force: true });
  }
});
