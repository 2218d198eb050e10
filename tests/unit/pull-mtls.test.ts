// What this file proves: the registry client talks to a private fleet registry over TLS with a private CA and a
// client certificate (mutual TLS), and is refused without the client certificate or without the CA.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { HttpSource } from '../../fetcher/src/source/http-source.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { testDir } from '../support/registry.js';

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A private CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
async function makePki(dir: string) {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bootos test CA');
  for (const name of ['server', 'client']) {
    openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  }
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  openssl(dir, 'x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
  const read = (f: string) => readFile(join(dir, f));
  return { ca: await read('ca.pem'), serverCert: await read('server.pem'), serverKey: await read('server.key'), clientCert: await read('client.pem'), clientKey: await read('client.key') };
}

test('mutual TLS: works with the CA and a client certificate, refused without either', async (t) => {
  const pki = await makePki(await testDir(t));
  const body = Buffer.from('{"hello":"fleet"}');
  const server = createServer({ cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
    res.writeHead(req.url === '/channels/stable.json' ? 200 : 404, { 'x-client': peer.subject?.CN ?? '' }).end(req.url === '/channels/stable.json' ? body : '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const limits = { maxRetries: 1, retryBaseDelayMs: 1, retryMaxDelayMs: 1 };

  const good = new HttpSource(url, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, limits });
  t.teardown(() => good.close());
  t.deepEqual(await good.get('channels/stable.json', 1024), body);
  t.is(await good.get('channels/missing.json', 1024), null);

  const noClientCert = new HttpSource(url, { ca: pki.ca, limits });
  t.teardown(() => noClientCert.close());
  const refused = await t.throwsAsync(noClientCert.get('channels/stable.json', 1024));
  t.true(isBootosError(refused, 'NETWORK') || isBootosError(refused, 'TIMEOUT'), String(refused));

  const noCa = new HttpSource(url, { cert: pki.clientCert, key: pki.clientKey, limits });
  t.teardown(() => noCa.close());
  const untrusted = await t.throwsAsync(noCa.get('channels/stable.json', 1024));
  t.true(isBootosError(untrusted, 'NETWORK'), String(untrusted));
});
