// Mutual TLS with the device identity, through a real agent: the registry is an HTTPS server (Node's TLS, OpenSSL)
// with a server certificate from a private CA, which asks every client for a certificate and trusts exactly the
// enrolled device's self-signed identity certificate. The agent set to `registryClientCert: identity` (and
// `registryCa`) verifies its channel through it; one that presents no certificate is refused at the handshake and
// reports a coded error, never a channel. And the same through real nginx (`ssl_verify_client on` with the devices'
// certificates, as `GET /api/device` gives them, as `ssl_client_certificate`).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:net';
import { safeRelative } from '../../fetcher/src/core/static-files.js';
import { agentEnv, json, type AgentEnv } from '../support/agent.js';
import { IMAGES, tempDir } from '../support/registry.js';
import { DeviceIdentity } from '../../bootos/src/agent/identity/identity.js';
import { FileKeyStore } from '../../bootos/src/agent/identity/key-store.js';
import { identityCertificate } from '../../bootos/src/agent/identity/certificate.js';
import { IDENTITY_FILE } from '../../bootos/src/agent/agent.js';
import { startDaemon, type Daemon } from '../support/daemon.js';
import { freePort } from '../support/office-cache.js';

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A private CA and a server certificate for 127.0.0.1 signed by it. */
async function serverPki(dir: string): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bootos test CA');
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=registry');
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  return { ca: await readFile(join(dir, 'ca.pem')), cert: await readFile(join(dir, 'server.pem')), key: await readFile(join(dir, 'server.key')) };
}

let pkiDir: string;
let pki: { ca: Buffer; cert: Buffer; key: Buffer };
let https: Server;
const clients: string[] = [];

/** Serves the registry directory over HTTPS; client certificates required, trusted: none until setSecureContext. */
async function serveHttps(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  https = createServer({ cert: pki.cert, key: pki.key, requestCert: true, rejectUnauthorized: true, ca: [pki.ca] }, async (req, res) => {
    clients.push(String((req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN ?? ''));
    const rel = safeRelative(new URL(req.url ?? '/', 'https://registry').pathname);
    try {
      if (!rel) throw new Error('refused');
      const body = await readFile(join(dir, rel));
      res.writeHead(200, { 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(https.address() as { port: number }).port}/`,
    close: () => new Promise<void>((resolve) => https.close(() => resolve())),
  };
}

/** The device's identity made before the agent starts, and its certificate made the one the server trusts. */
async function trustDeviceOf(base: string): Promise<void> {
  const stateDir = join(base, 'var', 'state');
  await mkdir(stateDir, { recursive: true });
  const { identity } = await DeviceIdentity.open(new FileKeyStore(join(stateDir, IDENTITY_FILE)));
  https.setSecureContext({ cert: pki.cert, key: pki.key, ca: [identityCertificate(identity).cert] });
  await writeFile(join(base, 'ca.pem'), pki.ca);
}

test.before(async () => {
  pkiDir = await tempDir('bootos-mtls-');
  pki = await serverPki(pkiDir);
});

test.after.always(() => rm(pkiDir, { recursive: true, force: true }));

/** Runs `check` against an agent started with `registryClientCert`, then stops it and checks it left nothing. */
async function withAgent(t: import('ava').ExecutionContext, registryClientCert: 'identity' | 'none', check: (env: AgentEnv) => Promise<void>): Promise<void> {
  const env = await agentEnv({ images: [join(IMAGES, 'hello')], serve: serveHttps, beforeStart: trustDeviceOf, config: { registryCa: 'ca.pem', registryClientCert }, limits: { maxRetries: 1, retryBaseDelayMs: 1, retryMaxDelayMs: 1, channelRetryMinMs: 60_000 } });
  try {
    await check(env);
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
  }
}

test.serial('registryClientCert identity: the agent verifies its channel through a registry that requires its certificate', async (t) => {
  await withAgent(t, 'identity', async (env) => {
    const apps = await json(await env.api('/api/apps'));
    t.is(apps.channel.state, 'ok', JSON.stringify(apps.channel));
    t.is(apps.channel.version, 1);
    const id = (await json(await env.api('/api/device'))).identity.id;
    t.true(clients.length > 0 && clients.every((cn) => cn === id), `clients seen: ${clients.join(', ')}`);
  });
});

test.serial('without a client certificate the registry refuses the handshake: a coded error, no channel', async (t) => {
  clients.length = 0;
  await withAgent(t, 'none', async (env) => {
    const apps = await json(await env.api('/api/apps'));
    t.is(apps.channel.version, null);
    t.is(apps.channel.state, 'retrying');
    t.log(`${apps.channel.error.code}: ${apps.channel.error.message}`);
    t.is(apps.channel.error.code, 'NETWORK');
    t.regex(apps.channel.error.message, /certificate required/);
    t.deepEqual(clients, [], 'no request got past the handshake');
  });
});

/** nginx serving the registry directory over HTTPS, trusting only the client certificates in `clients`. */
async function startNginx(dir: string, clients: string, prefix: string): Promise<{ url: string; daemon: Daemon }> {
  const port = await freePort();
  await writeFile(join(prefix, 'clients.pem'), clients);
  await writeFile(join(prefix, 'server.pem'), pki.cert);
  await writeFile(join(prefix, 'server.key'), pki.key);
  await mkdir(join(prefix, 'logs'), { recursive: true });
  await writeFile(
    join(prefix, 'nginx.conf'),
    `daemon off;
user root;
worker_processes 1;
pid ${prefix}/nginx.pid;
events {}
http {
  access_log ${prefix}/logs/access.log;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${prefix}/server.pem;
    ssl_certificate_key ${prefix}/server.key;
    ssl_client_certificate ${prefix}/clients.pem;
    ssl_verify_client on;
    root ${dir};
    location / { try_files $uri =404; }
  }
}
`,
  );
  const daemon = await startDaemon('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs', 'error.log')], { ready: () => true });
  await listening(port);
  return { url: `https://127.0.0.1:${port}/`, daemon };
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (bounded). */
async function listening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx does not listen on 127.0.0.1:${port}`);
}

test.serial('real nginx with ssl_verify_client on and the device certificate: the agent verifies its channel; without it, refused', async (t) => {
  const prefix = await tempDir('bootos-mtls-nginx-');
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  // The device's identity, made before the agent starts (as on its first boot); its certificate is the one nginx trusts.
  const made = join(prefix, IDENTITY_FILE);
  const { identity } = await DeviceIdentity.open(new FileKeyStore(made));
  let nginx: Daemon | undefined;
  const serve = async (dir: string) => {
    const started = await startNginx(dir, identityCertificate(identity).cert, prefix);
    nginx = started.daemon;
    return { url: started.url, close: () => started.daemon.stop() };
  };
  const beforeStart = async (base: string) => {
    await mkdir(join(base, 'var', 'state'), { recursive: true });
    await copyFile(made, join(base, 'var', 'state', IDENTITY_FILE));
    await writeFile(join(base, 'ca.pem'), pki.ca);
  };
  const limits = { maxRetries: 1, retryBaseDelayMs: 1, retryMaxDelayMs: 1, channelRetryMinMs: 60_000 };
  for (const registryClientCert of ['identity', 'none'] as const) {
    const env = await agentEnv({ images: [join(IMAGES, 'hello')], serve, beforeStart, config: { registryCa: 'ca.pem', registryClientCert }, limits });
    try {
      const apps = await json(await env.api('/api/apps'));
      const device = await json(await env.api('/api/device'));
      t.is(device.identity.id, identity.id);
      t.is(device.identity.certificate, identityCertificate(identity).cert, '/api/device gives the certificate nginx trusts');
      if (registryClientCert === 'identity') {
        t.is(apps.channel.state, 'ok', `${JSON.stringify(apps.channel)}\n${nginx?.output()}\n${await readFile(join(prefix, 'logs', 'error.log'), 'utf8').catch(() => '')}`);
        t.is(apps.channel.version, 1);
      } else {
        t.is(apps.channel.version, null);
        t.log(`${apps.channel.error.code}: ${apps.channel.error.message}`);
        // nginx finishes the handshake and answers 400 "No required SSL certificate was sent".
        t.is(apps.channel.error.code, 'HTTP_ERROR');
      }
    } finally {
      const { leftovers } = await env.teardown();
      t.deepEqual(leftovers, []);
    }
  }
});
