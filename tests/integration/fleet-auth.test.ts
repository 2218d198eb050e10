// Private registries: docker-registry with htpasswd (Basic) and with token authentication (the bearer challenge,
// tokens from a real token service signed with a real certificate). With credentials everything works; without, or
// with wrong ones, push and device reads fail with AUTH_REQUIRED / AUTH_REFUSED, and nothing is written.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OciSource } from '../../fetcher/src/source/oci-source.js';
import { pushRegistry } from '../../fetcher/src/publish/push.js';
import { parseChallenge } from '../../fetcher/src/source/oci-auth.js';
import { resolveImage } from '../../fetcher/src/trust/resolve.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { countRequests, startDockerRegistry, type DockerRegistry } from '../support/docker-registry.js';
import { makeRegistry, REPO, type TestRegistry } from '../support/registry.js';

const run = promisify(execFile);
const USER = { username: 'office', password: 'correct horse battery staple' };
let layout: TestRegistry;

test.before(async () => {
  layout = await makeRegistry();
});
test.after.always(async () => layout?.cleanup());

test('WWW-Authenticate challenges are parsed (quoted values, commas inside quotes)', (t) => {
  t.deepEqual(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' },
  });
  t.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
  t.is(parseChallenge(''), null);
});

test.serial('htpasswd (Basic): works with credentials, refuses without or with a wrong password', async (t) => {
  const registry = await startDockerRegistry({ htpasswd: USER });
  try {
    const url = registry.url('private');
    await t.throwsAsync(pushRegistry(layout.dir, url), { code: 'AUTH_REQUIRED' } as never);
    await t.throwsAsync(pushRegistry(layout.dir, url, { credentials: { ...USER, password: 'wrong' } }), { code: 'AUTH_REFUSED' } as never);
    t.is(countRequests(registry.requests(), 'PUT', /./), 0);

    const result = await pushRegistry(layout.dir, url, { credentials: USER });
    t.deepEqual(Object.keys(result.trust), ['root-1', 'root', 'channel-stable']);

    await t.throwsAsync((async () => (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(new OciSource(url), 'stable'))(), {
      code: 'AUTH_REQUIRED',
    } as never);
    const source = new OciSource(url, { credentials: USER });
    const channel = await (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(source, 'stable');
    t.is((await resolveImage(source, channel.signed, 'hello', 'x86_64')).digest, layout.images.get('hello')!.digest);
    source.close();

    // The CLI takes the same credentials from the environment (verify) or --username/--password-stdin (push).
    const cli = join(REPO, 'bin', 'bootos.mjs');
    const env = { ...process.env, BOOTOS_REGISTRY_USERNAME: USER.username, BOOTOS_REGISTRY_PASSWORD: USER.password };
    const verified = await run(process.execPath, [cli, 'verify', '--registry', url, '--root', join(layout.dir, 'root.json'), '--channel', 'stable'], { env });
    t.is(verified.stdout.trim(), '1');
    const refused = await run(process.execPath, [cli, 'verify', '--registry', url, '--root', join(layout.dir, 'root.json'), '--channel', 'stable']).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    t.is(refused.code, 1);
    t.regex(refused.stderr, /error AUTH_REQUIRED/);
  } finally {
    await registry.stop();
  }
});

/** A token service in the Docker/OCI style: Basic credentials in, a JWT (ES256, x5c) for the asked scope out. */
async function startTokenService(keyPem: string, certPem: string, issuer: string, service: string) {
  const key = createPrivateKey(keyPem);
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const issued: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const expected = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="token"' }).end();
      return;
    }
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: actions!.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64({ typ: 'JWT', alg: 'ES256', x5c });
    const claims = b64({ iss: issuer, sub: USER.username, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access });
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    issued.push(url.searchParams.getAll('scope').join(' '));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: 300 }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  return { realm: `http://127.0.0.1:${port}/token`, issued, close: () => new Promise<void>((done) => server.close(() => done())) };
}

test.serial('token auth (bearer challenge): tokens are fetched with the credentials and reused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootos-token-'));
  let registry: DockerRegistry | undefined;
  let tokens: Awaited<ReturnType<typeof startTokenService>> | undefined;
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=bootos-test-token', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    const certPem = await readFile(join(dir, 'cert.pem'), 'utf8');
    tokens = await startTokenService(await readFile(join(dir, 'key.pem'), 'utf8'), certPem, 'bootos-test-issuer', 'bootos-test-registry');
    registry = await startDockerRegistry({ token: { realm: tokens.realm, service: 'bootos-test-registry', issuer: 'bootos-test-issuer', certificatePem: certPem } });
    const url = registry.url('tokens');

    await t.throwsAsync(pushRegistry(layout.dir, url), { code: 'AUTH_REQUIRED' } as never);
    await t.throwsAsync(pushRegistry(layout.dir, url, { credentials: { ...USER, password: 'wrong' } }), { code: 'AUTH_REFUSED' } as never);
    const result = await pushRegistry(layout.dir, url, { credentials: USER });
    t.is(result.images['hello-1.0.0'], layout.images.get('hello')!.digest);
    // One token for the whole push: the first challenge is answered, then the token is reused.
    t.is(tokens.issued.length, 1);
    t.regex(tokens.issued[0]!, /repository:tokens:pull,push/);

    const source = new OciSource(url, { credentials: USER });
    const channel = await (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(source, 'stable');
    t.is((await resolveImage(source, channel.signed, 'hello', 'x86_64')).digest, layout.images.get('hello')!.digest);
    t.regex(tokens.issued.at(-1)!, /repository:tokens:pull$/);
    source.close();
    await t.throwsAsync((async () => (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(new OciSource(url), 'stable'))(), {
      code: 'AUTH_REQUIRED',
    } as never);
  } finally {
    await registry?.stop();
    await tokens?.close();
    await rm(dir, { recursive: true, force: true });
  }
});
