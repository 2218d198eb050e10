// notes: a page to add and list notes, kept in $DATA_DIR/notes.json (default /data, the app's data folder on the
// device). The data outlives restarts and updates of the app.
//   GET /api/notes → {notes: [{id, text, createdAt}]}   POST /api/notes {text} → 201 {note}   DELETE /api/notes/:id
// Hand-over (image.yaml `handover: signal`): on SIGUSR1 the app finishes the writes in flight, refuses new ones
// (503 HANDING_OVER, Retry-After: 1) and then prints the line `bootos: handover-ready` on stdout. Reads go on.
// SIGUSR2 means the update failed and this version keeps serving: writes are taken again.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { NoteStore, NotesError } from './store.js';

const MAX_BODY_BYTES = 16 * 1024;
const version = process.env.BOOTOS_IMAGE_VERSION ?? 'dev';
const store = new NoteStore(process.env.DATA_DIR ?? '/data');
const page = readFileSync(new URL('./index.html', import.meta.url));
const script = readFileSync(new URL('./notes.js', import.meta.url));
let handingOver = false;

const STATUS = { BAD_REQUEST: 400, NOT_FOUND: 404, TOO_MANY: 409, TOO_LONG: 413, DATA_CORRUPT: 500, HANDING_OVER: 503 };

function send(res, status, body, headers = {}) {
  const isJson = !(typeof body === 'string' || Buffer.isBuffer(body));
  res.writeHead(status, { 'x-app-version': version, 'cache-control': 'no-store', ...(isJson ? { 'content-type': 'application/json' } : {}), ...headers });
  res.end(isJson ? JSON.stringify(body) : body);
}

function fail(res, code, message, headers) {
  send(res, STATUS[code] ?? 500, { error: { code, message } }, headers);
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new NotesError('TOO_LONG', `at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new NotesError('BAD_REQUEST', 'expected JSON such as {"text": "buy milk"}');
  }
}

// Idle sockets are let go of quickly (browsers keep spare ones open): the agent counts open connections to decide
// when the app is idle and may be frozen or stopped.
const server = createServer({ connectionsCheckingInterval: 1000, headersTimeout: 4000, keepAliveTimeout: 2000 }, async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://notes');
  const writing = req.method === 'POST' || req.method === 'DELETE';
  try {
    if (url.pathname === '/health') return send(res, 200, 'ok\n');
    if (url.pathname === '/' && req.method === 'GET') return send(res, 200, page, { 'content-type': 'text/html; charset=utf-8' });
    if (url.pathname === '/notes.js' && req.method === 'GET') return send(res, 200, script, { 'content-type': 'text/javascript; charset=utf-8' });
    if (writing && handingOver) return fail(res, 'HANDING_OVER', 'a new version is taking over; try again in a moment', { 'retry-after': '1' });
    if (url.pathname === '/api/notes' && req.method === 'GET') return send(res, 200, { notes: await store.list(), version });
    if (url.pathname === '/api/notes' && req.method === 'POST') {
      const body = await readJson(req);
      return send(res, 201, { note: await store.add(body?.text) });
    }
    const match = /^\/api\/notes\/([0-9a-f-]{36})$/.exec(url.pathname);
    if (match && req.method === 'DELETE') {
      await store.remove(match[1]);
      return send(res, 204, '');
    }
    fail(res, 'NOT_FOUND', 'no such page');
  } catch (err) {
    if (err instanceof NotesError) return fail(res, err.code, err.message);
    console.error(`notes: ${err?.stack ?? err}`);
    if (!res.headersSent) fail(res, 'INTERNAL', 'notes failed; see its log');
  }
});

// Registered before the first await: Node starts its inspector on a SIGUSR1 that finds no listener.
process.on('SIGUSR1', async () => {
  handingOver = true;
  await store.flush();
  process.stdout.write('bootos: handover-ready\n');
});
process.on('SIGUSR2', () => {
  handingOver = false;
  console.log('notes: hand-over called off; taking writes again');
});
process.on('SIGTERM', async () => {
  handingOver = true;
  await store.flush();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});

await store.open();
server.listen(Number(process.env.PORT ?? 8080), () => console.log(`notes ${version} listening on ${server.address().port}, data in ${store.dir}`));
