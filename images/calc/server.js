// calc: a web calculator on the bundled Node runtime. GET / serves the page; POST /api/eval {"expr": "2+3*4"}
// (or GET /api/eval?expr=…) answers {"value": 14, "display": "14"}, or 400 {"error": {"code", "message"}}.
// The expression goes through a small parser (expr.js); nothing the user types is ever evaluated as code.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { evaluate, display, ExprError } from './expr.js';

const MAX_BODY_BYTES = 4096;
const version = process.env.BOOTOS_IMAGE_VERSION ?? 'dev';
const files = {
  '/': { type: 'text/html; charset=utf-8', body: readFileSync(new URL('./index.html', import.meta.url)) },
  '/calc.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('./calc.js', import.meta.url)) },
};

function send(res, status, body, headers = {}) {
  const json = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { 'x-app-version': version, 'cache-control': 'no-store', ...headers });
  res.end(json);
}

function answer(res, expr) {
  try {
    const value = evaluate(expr);
    send(res, 200, { expr, value, display: display(value) }, { 'content-type': 'application/json' });
  } catch (err) {
    if (!(err instanceof ExprError)) throw err;
    send(res, 400, { error: { code: err.code, message: err.message } }, { 'content-type': 'application/json' });
  }
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// Idle sockets are let go of quickly (browsers keep spare ones open): the agent counts open connections to decide
// when the app is idle and may be frozen or stopped.
const server = createServer({ connectionsCheckingInterval: 1000, headersTimeout: 4000, keepAliveTimeout: 2000 }, async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://calc');
  try {
    if (url.pathname === '/health') return send(res, 200, 'ok\n');
    if (url.pathname === '/api/eval' && req.method === 'GET') return answer(res, url.searchParams.get('expr') ?? '');
    if (url.pathname === '/api/eval' && req.method === 'POST') {
      const text = await readBody(req);
      if (text === null) return send(res, 413, { error: { code: 'TOO_LONG', message: `at most ${MAX_BODY_BYTES} bytes` } }, { 'content-type': 'application/json' });
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        return send(res, 400, { error: { code: 'BAD_REQUEST', message: 'expected JSON such as {"expr": "2+3*4"}' } }, { 'content-type': 'application/json' });
      }
      return answer(res, body?.expr);
    }
    const file = files[url.pathname];
    if (file && (req.method === 'GET' || req.method === 'HEAD')) return send(res, 200, file.body, { 'content-type': file.type });
    send(res, 404, { error: { code: 'NOT_FOUND', message: 'no such page' } }, { 'content-type': 'application/json' });
  } catch (err) {
    console.error(`calc: ${err?.stack ?? err}`);
    if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'calc failed; see its log' } }, { 'content-type': 'application/json' });
  }
});

server.listen(Number(process.env.PORT ?? 8080), () => console.log(`calc ${version} listening on ${server.address().port}`));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
