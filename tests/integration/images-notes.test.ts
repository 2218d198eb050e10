// images/notes: notes kept in the app's data folder. Published and fetched like a device would, run on the host's
// node with DATA_DIR in a temp folder: notes survive a restart, writes are atomic and serialized, a damaged file is
// never overwritten, and SIGUSR1 (handover: signal) flushes, refuses new writes and prints `bootos: handover-ready`.
import test from 'ava';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempDir } from '../support/registry.js';
import { publishAndUnpack, runApp, type RunningApp, type UnpackedImage } from '../support/image-app.js';

let image: UnpackedImage;

test.before(async () => {
  image = await publishAndUnpack('notes');
});
test.after.always(async () => {
  if (image) await Promise.all([image.registry.cleanup(), rm(dirname(image.rootfs), { recursive: true, force: true })]);
});

async function start(t: { teardown(fn: () => unknown): void }, dataDir?: string): Promise<{ app: RunningApp; dataDir: string }> {
  const dir = dataDir ?? (await tempDir('bootos-notes-data-'));
  if (!dataDir) t.teardown(() => rm(dir, { recursive: true, force: true }));
  const app = await runApp(image, { dataDir: dir });
  t.teardown(() => app.stop());
  return { app, dataDir: dir };
}

async function add(app: RunningApp, text: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${app.url}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

async function list(app: RunningApp): Promise<{ id: string; text: string }[]> {
  const res = await fetch(`${app.url}/api/notes`);
  if (res.status !== 200) throw new Error(`GET /api/notes: ${res.status}`);
  return (await res.json()).notes;
}

test('the published config: data at /data, signal hand-over, public port 8083', (t) => {
  t.deepEqual(image.config.data, { path: '/data' });
  t.deepEqual(image.config.handover, { mode: 'signal', timeoutSeconds: 5 });
  t.deepEqual(image.config.ports, [{ name: 'http', port: 8080, public: 8083 }]);
  t.true(image.config.env.includes('DATA_DIR=/data'));
});

test('notes persist across a process restart', async (t) => {
  const first = await start(t);
  t.deepEqual(await list(first.app), []);
  t.is((await add(first.app, 'buy milk')).status, 201);
  t.is((await add(first.app, 'call Ana')).status, 201);
  t.is(await first.app.stop(), 0);

  const second = await start(t, first.dataDir);
  t.deepEqual((await list(second.app)).map((n) => n.text), ['call Ana', 'buy milk']);
  const [newest] = await list(second.app);
  const del = await fetch(`${second.app.url}/api/notes/${newest!.id}`, { method: 'DELETE' });
  t.is(del.status, 204);
  t.deepEqual((await list(second.app)).map((n) => n.text), ['buy milk']);

  // On disk: one complete JSON document and no temp file.
  const doc = JSON.parse(await readFile(join(first.dataDir, 'notes.json'), 'utf8'));
  t.is(doc.version, 1);
  t.deepEqual(doc.notes.map((n: { text: string }) => n.text), ['buy milk']);
  t.deepEqual(await readdir(first.dataDir), ['notes.json']);
});

test('concurrent writes are serialized: none is lost', async (t) => {
  const { app } = await start(t);
  const results = await Promise.all(Array.from({ length: 25 }, (_, i) => add(app, `note ${i}`)));
  t.true(results.every((r) => r.status === 201));
  t.is(new Set((await list(app)).map((n) => n.text)).size, 25);
});

test('bad input is refused with a code', async (t) => {
  const { app } = await start(t);
  t.is((await add(app, '   ')).body.error.code, 'BAD_REQUEST');
  t.is((await add(app, 42)).body.error.code, 'BAD_REQUEST');
  t.is((await add(app, 'x'.repeat(2001))).body.error.code, 'BAD_REQUEST');
  const notJson = await fetch(`${app.url}/api/notes`, { method: 'POST', body: '{' });
  t.is(notJson.status, 400);
  const huge = await fetch(`${app.url}/api/notes`, { method: 'POST', body: JSON.stringify({ text: 'x'.repeat(20_000) }) });
  t.is(huge.status, 413);
  t.is((await fetch(`${app.url}/api/notes/00000000-0000-0000-0000-000000000000`, { method: 'DELETE' })).status, 404);
  t.deepEqual(await list(app), []);
});

test('a damaged notes file is reported and left untouched', async (t) => {
  const dataDir = await tempDir('bootos-notes-data-');
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await writeFile(join(dataDir, 'notes.json'), '{"version": 1, "notes": [');
  // A temp file from a crash mid-write is cleaned up at start.
  await writeFile(join(dataDir, '.notes.json.tmp-1-deadbeef'), 'half');
  const app = await runApp(image, { dataDir });
  t.teardown(() => app.stop());
  const res = await fetch(`${app.url}/api/notes`);
  t.is(res.status, 500);
  t.is((await res.json()).error.code, 'DATA_CORRUPT');
  t.is((await add(app, 'lost?')).body.error.code, 'DATA_CORRUPT');
  t.is(await readFile(join(dataDir, 'notes.json'), 'utf8'), '{"version": 1, "notes": [');
  t.deepEqual(await readdir(dataDir), ['notes.json']);
});

test('SIGUSR1 hands over: writes finish, new ones are refused, then `bootos: handover-ready`; SIGUSR2 calls it off', async (t) => {
  const { app, dataDir } = await start(t);
  const writes = Array.from({ length: 10 }, (_, i) => add(app, `before ${i}`));
  await Promise.all(writes);
  app.process.kill('SIGUSR1');
  await app.waitForLine(/^bootos: handover-ready$/);

  const refused = await fetch(`${app.url}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'too late' }) });
  t.is(refused.status, 503);
  t.is(refused.headers.get('retry-after'), '1');
  t.is((await refused.json()).error.code, 'HANDING_OVER');
  // Reads go on, and the file on disk already holds every acknowledged note for the next version to read.
  t.is((await list(app)).length, 10);
  const doc = JSON.parse(await readFile(join(dataDir, 'notes.json'), 'utf8'));
  t.is(doc.notes.length, 10);

  // SIGUSR2: the update failed, this version carries on and takes writes again.
  app.process.kill('SIGUSR2');
  await app.waitForLine(/hand-over called off/);
  t.is((await add(app, 'carry on')).status, 201);
  t.is((await list(app)).length, 11);

  // The next version, started on the same data, sees them all and accepts writes.
  const next = await runApp(image, { dataDir });
  t.teardown(() => next.stop());
  t.is((await add(next, 'after')).status, 201);
  t.is((await list(next)).length, 12);
});
