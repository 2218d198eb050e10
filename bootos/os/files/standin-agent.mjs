// Stand-in for the bootos agent until the real one (issue 5) lands: it answers GET /api/health on the API port
// (bootos.api_port on the kernel command line, default 8080) and prints the ready line once it listens.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const args = Object.fromEntries(
  readFileSync('/proc/cmdline', 'utf8').trim().split(/\s+/).filter((a) => a.startsWith('bootos.')).map((a) => {
    const i = a.indexOf('=');
    return i < 0 ? [a, '1'] : [a.slice(0, i), a.slice(i + 1)];
  }),
);
const port = Number(args['bootos.api_port'] ?? 8080);
const started = process.hrtime.bigint();

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://device');
  const [status, body] = req.method === 'GET' && url.pathname === '/api/health'
    ? [200, { ok: true, uptimeSeconds: Math.round(Number(process.hrtime.bigint() - started) / 1e9) }]
    : [404, { error: { code: 'NOT_FOUND', message: `${req.method} ${url.pathname}` } }];
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
});
server.listen(port, () => console.log(`bootos-agent: ready (stand-in) on port ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
