// What this file proves: `bootos serve` is a correct static registry server (GET/HEAD, ranges, ETags, types),
// refuses every path outside the registry and lists no directories; and the same registry directory served by
// nginx verifies too (any static web server will do).
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { resolveImage } from '../../fetcher/src/trust/resolve.js';
import { startServer } from '../../fetcher/src/publish/serve.js';
import { HttpSource } from '../../fetcher/src/source/http-source.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { makeRegistry, testDir } from '../support/registry.js';

/** Raw HTTP, so that paths reach the server exactly as written (fetch would normalize `..`). */
function raw(url: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('GET, HEAD, Range, ETag / If-None-Match and content types', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const lines: string[] = [];
  const server = await startServer({ dir: reg.dir, log: (l) => lines.push(l) });
  t.teardown(() => server.close());
  const digest = reg.images.get('hello')!.layers[0]!.digest;
  const path = `/${blobPath(digest)}`;
  const full = await raw(server.url, path);
  t.is(full.status, 200);
  t.is(full.headers['content-type'], 'application/octet-stream');
  t.is(full.headers.etag, `"${digest}"`);
  const head = await raw(server.url, path, {}, 'HEAD');
  t.is(head.status, 200);
  t.is(head.body.length, 0);
  t.is(Number(head.headers['content-length']), full.body.length);
  const part = await raw(server.url, path, { range: 'bytes=10-19' });
  t.is(part.status, 206);
  t.is(part.headers['content-range'], `bytes 10-19/${full.body.length}`);
  t.deepEqual(part.body, full.body.subarray(10, 20));
  const tail = await raw(server.url, path, { range: 'bytes=100-' });
  t.deepEqual(tail.body, full.body.subarray(100));
  t.is((await raw(server.url, path, { range: `bytes=${full.body.length}-` })).status, 416);
  t.is((await raw(server.url, path, { 'if-none-match': `"${digest}"` })).status, 304);
  const channel = await raw(server.url, '/channels/stable.json');
  t.is(channel.headers['content-type'], 'application/json');
  t.is((await raw(server.url, '/channels/stable.json', { 'if-none-match': String(channel.headers.etag) })).status, 304);
  t.is(channel.headers['cache-control'], 'no-cache');
  t.is((await raw(server.url, '/root.json', {}, 'POST')).status, 405);
  t.true(lines.some((l) => l.includes('GET /channels/stable.json 200')));
});

test('nothing outside the registry directory, no listings, no hidden files', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  await writeFile(join(reg.dir, '..', 'secret.txt'), 'secret');
  await symlink(join(reg.dir, '..', 'secret.txt'), join(reg.dir, 'escape'));
  await writeFile(join(reg.dir, '.hidden'), 'x');
  const server = await startServer({ dir: reg.dir, log: () => {} });
  t.teardown(() => server.close());
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/blobs/..%2f..%2fsecret.txt', '/escape', '/.hidden', '/blobs/', '/blobs/sha256', '/', '/%00', '/bad%zz']) {
    const res = await raw(server.url, path);
    t.is(res.status, 404, path);
    t.false(res.body.toString().includes('secret'), path);
  }
});

test('a registry served over HTTP by bootos serve verifies end to end', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const server = await startServer({ dir: reg.dir, log: () => {} });
  t.teardown(() => server.close());
  const source = new HttpSource(server.url);
  const channel = await (await Trust.open({ initialRoot: reg.rootBytes })).fetchChannel(source, 'stable');
  t.is((await resolveImage(source, channel.signed, 'hello')).config.name, 'hello');
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

test('the same registry directory served by nginx verifies', async (t) => {
  const reg = await makeRegistry();
  t.teardown(() => reg.cleanup());
  const prefix = await testDir(t, 'bootos-nginx-');
  // nginx's workers drop to an unprivileged user: let them read the registry (mkdtemp makes 0700 folders).
  await chmod(join(reg.dir, '..'), 0o755);
  await mkdir(join(prefix, 'logs'));
  const port = await freePort();
  await writeFile(
    join(prefix, 'nginx.conf'),
    `daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log;
events { worker_connections 64; }
http {
  access_log ${prefix}/logs/access.log;
  client_body_temp_path ${prefix}/tmp;
  proxy_temp_path ${prefix}/tmp;
  fastcgi_temp_path ${prefix}/tmp;
  uwsgi_temp_path ${prefix}/tmp;
  scgi_temp_path ${prefix}/tmp;
  types { application/json json; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${reg.dir};
    autoindex off;
  }
}
`,
  );
  const nginx = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'ignore' });
  t.teardown(() => void nginx.kill('SIGTERM'));
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(url + 'root.json').then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const source = new HttpSource(url);
  const channel = await (await Trust.open({ initialRoot: reg.rootBytes })).fetchChannel(source, 'stable');
  t.is(channel.signed.version, 1);
  t.is((await resolveImage(source, channel.signed, 'hello')).config.name, 'hello');
});
