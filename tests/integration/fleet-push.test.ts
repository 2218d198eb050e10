// Interoperability with CNCF Distribution (Debian's docker-registry) and skopeo: `bootos push` fills a real OCI
// registry, a device verifies and resolves through it with the unchanged trust checks, standard tools read what
// we pushed and accept our registry directory as an OCI layout.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { generateKey } from '../../fetcher/src/trust/keys.js';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { OciSource } from '../../fetcher/src/source/oci-source.js';
import { pushRegistry } from '../../fetcher/src/publish/push.js';
import { parseRegistryUrl } from '../../fetcher/src/formats/registry-url.js';
import { resolveImage } from '../../fetcher/src/trust/resolve.js';
import { rotateRoot, signChannel } from '../../fetcher/src/publish/signer.js';
import { openSource } from '../../fetcher/src/source/open-source.js';
import { trustArtifactFor } from '../../fetcher/src/formats/trust-artifacts.js';
import { deviceIdOf, enrolmentOf } from '../../fetcher/src/formats/devices-doc.js';
import { enrollDevice } from '../../fetcher/src/publish/devices-signer.js';
import { Trust, fetchVerifiedBlob } from '../../fetcher/src/trust/trust.js';
import { countRequests, startDockerRegistry, type DockerRegistry } from '../support/docker-registry.js';
import { makeImageDir, makeRegistry, REPO, type TestRegistry } from '../support/registry.js';

const run = promisify(execFile);
let registry: DockerRegistry;
let layout: TestRegistry;

test.before(async () => {
  registry = await startDockerRegistry();
  const big = await makeImageDir(
    { 'data/a.bin': randomBytes(150_000).toString('base64'), 'data/b.txt': 'hello world\n'.repeat(5000) },
    'name: data\nversion: 2.0.0\nruntime: node\nentrypoint: [node, -e, "0"]\nfiles:\n  - from: data\n    to: /srv\n',
  );
  layout = await makeRegistry({ images: ['hello', big] });
});

test.after.always(async () => {
  await registry?.stop();
  await layout?.cleanup();
});

test('registry URLs: oci:// is HTTPS, oci+http:// plain HTTP, namespace required and checked', (t) => {
  t.deepEqual(parseRegistryUrl('oci://registry.example.com/acme/bootos'), {
    origin: 'https://registry.example.com',
    repository: 'acme/bootos',
    credentials: undefined,
    display: 'oci://registry.example.com/acme/bootos',
  });
  const plain = parseRegistryUrl('oci+http://u:p%40ss@127.0.0.1:5000/bootos/');
  t.is(plain.origin, 'http://127.0.0.1:5000');
  t.deepEqual(plain.credentials, { username: 'u', password: 'p@ss' });
  t.is(plain.display, 'oci+http://127.0.0.1:5000/bootos');
  for (const bad of ['oci://host', 'oci://host/UPPER', 'oci://host/a//b', 'http://host/x', 'oci://host/ns?x=1']) {
    t.true(isBootosError(t.throws(() => parseRegistryUrl(bad)), 'USAGE'), bad);
  }
  // Passwords never travel over plain HTTP beyond this machine.
  t.true(isBootosError(t.throws(() => new OciSource('oci+http://u:p@10.1.2.3/bootos')), 'USAGE'));
  t.true(openSource('oci+http://127.0.0.1:1/ns') instanceof OciSource);
});

test('trust documents map to tags; other paths do not', (t) => {
  t.is(trustArtifactFor('root.json')?.tag, 'root');
  t.is(trustArtifactFor('roots/12.root.json')?.tag, 'root-12');
  t.is(trustArtifactFor('channels/stable.json')?.tag, 'channel-stable');
  t.is(trustArtifactFor('devices.json')?.tag, 'devices');
  t.is(trustArtifactFor('channels/../x.json'), null);
  t.is(trustArtifactFor('roots/0.root.json'), null);
  t.is(trustArtifactFor('index.json'), null);
});

test('push, then a device verifies the channel and resolves every image through the registry', async (t) => {
  const url = registry.url('office');
  const first = await pushRegistry(layout.dir, url);
  t.false(first.dryRun);
  t.deepEqual(Object.keys(first.images).sort(), ['data-2.0.0', 'hello-1.0.0']);
  t.deepEqual(Object.keys(first.trust), ['root-1', 'root', 'channel-stable']);
  t.true(first.blobs.uploaded > 0);

  // Trust artifacts go last: no channel tag exists before every image tag and blob is in place.
  const puts = registry.requests().filter((l) => /"PUT \/v2\/office\/manifests\//.test(l));
  t.regex(puts.at(-1)!, /manifests\/channel-stable /);
  const lastImagePut = puts.findIndex((l) => /manifests\/data-2\.0\.0 /.test(l));
  t.true(lastImagePut >= 0 && lastImagePut < puts.findIndex((l) => /manifests\/root-1 /.test(l)));

  const source = new OciSource(url);
  const trust = await Trust.open({ initialRoot: layout.rootBytes });
  const channel = await trust.fetchChannel(source, 'stable');
  t.is(channel.signed.version, 1);
  for (const name of ['hello', 'data']) {
    const image = await resolveImage(source, channel.signed, name, 'x86_64');
    t.is(image.digest, layout.images.get(name)!.digest);
    const layer = image.manifest.layers[0]!;
    const bytes = await fetchVerifiedBlob(source, layer, `${name} layer`);
    t.deepEqual(bytes, await readFile(join(layout.dir, blobPath(layer.digest))));
  }
  // Absent things are absent (null), not errors, exactly as for a directory.
  t.is(await source.get('channels/beta.json', 1024), null);
  t.is(await source.get(`blobs/sha256/${'0'.repeat(64)}`, 1024), null);
  // Endless data: a document larger than the device's cap is refused before it is read.
  await t.throwsAsync(source.get('channels/stable.json', 100), { code: 'DOCUMENT_TOO_LARGE' } as never);
  source.close();

  // A second push finds everything there (HEAD) and uploads nothing.
  const before = countRequests(registry.requests(), 'PUT', /\/v2\/office\//) + countRequests(registry.requests(), 'PATCH', /\/v2\/office\//);
  const second = await pushRegistry(layout.dir, url);
  t.is(second.blobs.uploaded, 0);
  t.is(second.manifests.uploaded, 0);
  t.is(countRequests(registry.requests(), 'PUT', /\/v2\/office\//) + countRequests(registry.requests(), 'PATCH', /\/v2\/office\//), before);
});

test('chunked upload (PATCH with Content-Range) gives the same registry', async (t) => {
  const url = registry.url('chunked');
  const result = await pushRegistry(layout.dir, url, { limits: { uploadChunkBytes: 32 * 1024 } });
  t.true(countRequests(registry.requests(), 'PATCH', /\/v2\/chunked\/blobs\/uploads\//, 202) >= 4);
  const source = new OciSource(url);
  const channel = await (await Trust.open({ initialRoot: layout.rootBytes })).fetchChannel(source, 'stable');
  const image = await resolveImage(source, channel.signed, 'data', 'x86_64');
  t.is(image.digest, result.images['data-2.0.0']!);
  const layer = image.manifest.layers[0]!;
  t.deepEqual(await fetchVerifiedBlob(source, layer, 'data layer'), await readFile(join(layout.dir, blobPath(layer.digest))));
  source.close();
});

test('root rotation travels through the registry: a device with the old root follows root-2', async (t) => {
  const rotated = await makeRegistry();
  try {
    const newKey = generateKey();
    await rotateRoot({ registry: rotated.dir, keys: [newKey.publicKey], threshold: 1, signers: [rotated.key, newKey], expiresMs: 86_400_000 });
    await signChannel({ registry: rotated.dir, name: 'stable', profiles: { office: ['hello'] }, signers: [newKey], expiresMs: 86_400_000 });
    const result = await pushRegistry(rotated.dir, registry.url('rotated'));
    t.deepEqual(Object.keys(result.trust), ['root-1', 'root-2', 'root', 'channel-stable']);
    const source = new OciSource(registry.url('rotated'));
    const trust = await Trust.open({ initialRoot: rotated.rootBytes });
    const channel = await trust.fetchChannel(source, 'stable');
    t.is(trust.trustedRoot.signed.version, 2);
    t.is(channel.signed.version, 2);
    source.close();
  } finally {
    await rotated.cleanup();
  }
});

test('the devices document travels through the registry (tag devices): a device finds itself there', async (t) => {
  const enrolled = await makeRegistry();
  try {
    const device = generateKey().publicKey;
    const seal = generateKey().publicKey; // 32 random-looking bytes stand in for an X25519 public key here
    const id = deviceIdOf(device);
    await enrollDevice({ registry: enrolled.dir, signers: [enrolled.key], expiresMs: 86_400_000, entry: { id, keys: { sign: device.toString('base64'), seal: seal.toString('base64') }, groups: ['lab'], expires: '2099-01-01T00:00:00Z' } });
    const result = await pushRegistry(enrolled.dir, registry.url('enrolled'));
    t.deepEqual(Object.keys(result.trust), ['root-1', 'root', 'devices', 'channel-stable']);
    const source = new OciSource(registry.url('enrolled'));
    const trust = await Trust.open({ initialRoot: enrolled.rootBytes });
    await trust.fetchChannel(source, 'stable');
    const doc = await trust.fetchDevices(source);
    t.is(doc?.signed.version, 1);
    t.true(enrolmentOf(doc!.signed, id, Date.now()).enrolled);
    source.close();
  } finally {
    await enrolled.cleanup();
  }
});

test('push refuses a channel that pins an image neither in the directory nor in the registry', async (t) => {
  const other = await makeRegistry();
  try {
    // Pin a digest that exists nowhere.
    await signChannel({
      registry: other.dir,
      name: 'stable',
      profiles: { office: ['ghost'] },
      pins: { ghost: { digest: `sha256:${'ab'.repeat(32)}`, size: 100 } },
      signers: [other.key],
      expiresMs: 86_400_000,
    });
    await t.throwsAsync(pushRegistry(other.dir, registry.url('ghost')), { code: 'REGISTRY_INVALID' } as never);
    // Nothing that a device reads first was written.
    const source = new OciSource(registry.url('ghost'));
    t.is(await source.get('channels/stable.json', 1 << 20), null);
    t.is(await source.get('root.json', 1 << 20), null);
    source.close();
  } finally {
    await other.cleanup();
  }
});

test('bootos push CLI: --dry-run uploads nothing, --json reports, errors are coded', async (t) => {
  const cli = join(REPO, 'bin', 'bootos.mjs');
  const dry = await run(process.execPath, [cli, 'push', registry.url('cli'), '--registry', layout.dir, '--dry-run', '--json']);
  const plan = JSON.parse(dry.stdout);
  t.true(plan.dryRun);
  t.true(plan.blobs.uploaded > 0);
  t.is(countRequests(registry.requests(), 'PUT', /\/v2\/cli\//), 0);
  const real = JSON.parse((await run(process.execPath, [cli, 'push', registry.url('cli'), '--registry', layout.dir, '--json'])).stdout);
  t.is(real.blobs.uploaded, plan.blobs.uploaded);
  const verified = await run(process.execPath, [cli, 'verify', '--registry', registry.url('cli'), '--root', join(layout.dir, 'root.json'), '--channel', 'stable']);
  t.is(verified.stdout.trim(), '1');
  const bad = await run(process.execPath, [cli, 'push', 'oci://host', '--registry', layout.dir]).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => err,
  );
  t.is(bad.code, 2);
  t.regex(bad.stderr, /error USAGE/);
});

test('skopeo reads our layout and what we pushed', async (t) => {
  const ref = `oci:${layout.dir}:hello-1.0.0`;
  const hello = layout.images.get('hello')!;
  // Our registry directory is an OCI layout: skopeo finds the image by its ref name and reads the index and config.
  const raw = (await run('skopeo', ['inspect', '--raw', ref])).stdout;
  t.is(raw, (await readFile(join(layout.dir, blobPath(hello.digest)))).toString());
  // …and the config is a standard OCI config, with bootos's settings in a label.
  const config = JSON.parse((await run('skopeo', ['inspect', '--config', '--raw', ref])).stdout);
  t.deepEqual(config.config.Entrypoint, ['node', '/app/server.js']);
  t.is(JSON.parse(config.config.Labels['dev.bootos.config']).name, 'hello');
  // skopeo copies the whole index from the layout into the registry; the digest is preserved.
  await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', ref, `docker://${registry.host}/skopeo:hello-1.0.0`]);
  const copied = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/skopeo:hello-1.0.0`])).stdout;
  t.is(copied, raw);
  // A device reads an image copied by skopeo: the index lives only under /manifests/, and the source falls back to it.
  const source = new OciSource(registry.url('skopeo'));
  t.is((await fetchVerifiedBlob(source, hello, 'hello index')).toString(), raw);
  source.close();
  // And skopeo reads what bootos pushed, back into a layout of its own, byte for byte.
  await pushRegistry(layout.dir, registry.url('forskopeo'));
  const out = await mkdtemp(join(tmpdir(), 'bootos-skopeo-'));
  try {
    await run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${registry.host}/forskopeo:hello-1.0.0`, `oci:${out}:hello`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    t.is(index.manifests[0].digest, hello.digest);
    const artifact = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/forskopeo:channel-stable`])).stdout);
    t.is(artifact.artifactType, 'application/vnd.bootos.channel.v1+json');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
