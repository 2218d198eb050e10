// hello: answers every request with a small static page; /health for the agent's health check.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const page = readFileSync(new URL('./index.html', import.meta.url));
const version = process.env.BOOTOS_IMAGE_VERSION ?? 'dev';

const server = createServer((req, res) => {
  if (req.url === '/health') return res.end('ok\n');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'x-app-version': version });
  res.end(page);
}).listen(Number(process.env.PORT ?? 8080), () => console.log(`hello listening on ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
