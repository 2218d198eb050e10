// What this file proves: publishing is deterministic (same folder → same digests from any path, any mtimes),
// the registry is a valid OCI image layout, and image.yaml is strict.
import test from 'ava';
import { createHash } from 'node:crypto';
import { cp, readFile, readdir, utimes, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { publishImage } from '../../fetcher/src/publish/publish.js';
import { parseImageSpec } from '../../fetcher/src/formats/image-spec.js';
import { blobPath, MEDIA } from '../../fetcher/src/formats/oci.js';
import { IMAGES, testDir } from '../support/registry.js';

async function touchAll(dir: string, seconds: number): Promise<void> {
  for (const name of await readdir(dir, { recursive: true })) await utimes(join(dir, name), seconds, seconds);
  await utimes(dir, seconds, seconds);
}

test('the same image folder gives identical digests from two checkouts with different mtimes', async (t) => {
  const a = await testDir(t);
  const b = await testDir(t);
  await cp(join(IMAGES, 'hello'), join(a, 'checkout-one', 'hello'), { recursive: true });
  await cp(join(IMAGES, 'hello'), join(b, 'somewhere', 'else', 'hello'), { recursive: true });
  await touchAll(join(a, 'checkout-one', 'hello'), 1_000_000);
  await touchAll(join(b, 'somewhere', 'else', 'hello'), 1_700_000_000);
  const one = await publishImage(join(a, 'checkout-one', 'hello'), join(a, 'registry'));
  const two = await publishImage(join(b, 'somewhere', 'else', 'hello'), join(b, 'registry'));
  t.is(one.digest, two.digest);
  t.deepEqual(one.layers, two.layers);
  t.is(one.manifest.digest, two.manifest.digest);
  // and different content gives a different digest
  await writeFile(join(b, 'somewhere', 'else', 'hello', 'index.html'), 'changed');
  const three = await publishImage(join(b, 'somewhere', 'else', 'hello'), join(b, 'registry'));
  t.not(three.digest, one.digest);
});

test('layers have fixed mtimes, uid/gid 0, normalized modes, sorted entries and no image.yaml', async (t) => {
  const dir = await testDir(t);
  await cp(join(IMAGES, 'hello'), join(dir, 'hello'), { recursive: true });
  await writeFile(join(dir, 'hello', 'run.sh'), '#!/bin/sh\n', { mode: 0o700 });
  const result = await publishImage(join(dir, 'hello'), join(dir, 'registry'), { epoch: 1234 });
  const layer = await readFile(join(dir, 'registry', blobPath(result.layers[0]!.digest)));
  t.is(layer.readUInt32LE(4), 0, 'gzip header mtime is 0');
  const headers: { name: string; mode: number; uid: number; gid: number; mtime: number; type: string }[] = [];
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    headers.push({ name: h.name, mode: h.mode!, uid: h.uid!, gid: h.gid!, mtime: h.mtime!.getTime() / 1000, type: h.type! });
    stream.resume();
    stream.on('end', next);
  });
  await new Promise<void>((resolve, reject) => Readable.from(layer).pipe(createGunzip()).pipe(ex).on('finish', () => resolve()).on('error', reject));
  const names = headers.map((h) => h.name.replace(/\/$/, ''));
  t.deepEqual(names, [...names].sort());
  t.true(names.includes('app/server.js'));
  t.false(names.includes('app/image.yaml'));
  for (const dirName of ['proc', 'sys', 'dev', 'tmp', 'data']) t.true(names.includes(dirName), dirName);
  for (const h of headers) {
    t.is(h.uid, 0);
    t.is(h.gid, 0);
    t.is(h.mtime, 1234);
    if (h.name.replace(/\/$/, '') === 'tmp') t.is(h.mode, 0o1777, 'tmp is sticky and world-writable');
    else t.true(h.mode === 0o755 || h.mode === 0o644, `${h.name} ${h.mode.toString(8)}`);
  }
  t.is(headers.find((h) => h.name === 'app/run.sh')!.mode, 0o755);
  t.is(headers.find((h) => h.name === 'app/index.html')!.mode, 0o644);
});

test('the registry is an OCI image layout: oci-layout, index.json, blobs named by digest', async (t) => {
  const dir = await testDir(t);
  const result = await publishImage(join(IMAGES, 'hello'), join(dir, 'registry'));
  const registry = join(dir, 'registry');
  t.deepEqual(JSON.parse(await readFile(join(registry, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(await readFile(join(registry, 'index.json'), 'utf8'));
  t.is(index.manifests[0].digest, result.digest);
  t.is(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'hello-1.0.0');
  const imageIndex = JSON.parse(await readFile(join(registry, blobPath(result.digest)), 'utf8'));
  t.is(imageIndex.mediaType, MEDIA.index);
  t.deepEqual(imageIndex.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture), ['amd64', 'arm64']);
  const manifest = JSON.parse(await readFile(join(registry, blobPath(imageIndex.manifests[0].digest)), 'utf8'));
  t.is(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
  t.is(manifest.layers[0].mediaType, MEDIA.layerGzip);
  // A standard OCI config: the platform, the process, diff_ids of the uncompressed layer; bootos's settings in a label.
  const config = JSON.parse(await readFile(join(registry, blobPath(manifest.config.digest)), 'utf8'));
  t.is(config.architecture, 'amd64');
  t.is(config.os, 'linux');
  t.deepEqual(config.config.Entrypoint, ['node', '/app/server.js']);
  t.is(config.config.User, '1000:1000');
  t.deepEqual(config.config.ExposedPorts, { '8080/tcp': {} });
  t.is(config.rootfs.type, 'layers');
  const tar = gunzipSync(await readFile(join(registry, blobPath(manifest.layers[0].digest))));
  t.deepEqual(config.rootfs.diff_ids, [`sha256:${createHash('sha256').update(tar).digest('hex')}`]);
  t.is(JSON.parse(config.config.Labels['dev.bootos.config']).idle.action, 'stop');
  // The arm64 manifest has its own config (architecture arm64) over the same layer.
  const arm = JSON.parse(await readFile(join(registry, blobPath(imageIndex.manifests[1].digest)), 'utf8'));
  t.deepEqual(arm.layers, manifest.layers);
  t.is(JSON.parse(await readFile(join(registry, blobPath(arm.config.digest)), 'utf8')).architecture, 'arm64');
  for (const d of [manifest.config, ...manifest.layers]) t.is((await stat(join(registry, blobPath(d.digest)))).size, d.size);
  // publishing again changes nothing
  const again = await publishImage(join(IMAGES, 'hello'), registry);
  t.is(again.digest, result.digest);
  t.is(JSON.parse(await readFile(join(registry, 'index.json'), 'utf8')).manifests.length, 1);
});

const valid = { name: 'x', version: '1.0.0', entrypoint: ['/app/x'] };

test('image.yaml: unknown fields are errors naming the field', (t) => {
  const err = t.throws(() => parseImageSpec({ ...valid, entrypont: ['typo'] }, 'image.yaml'));
  t.true(isBootosError(err, 'SCHEMA_INVALID'));
  t.regex(err!.message, /entrypont: unknown field/);
  const nested = t.throws(() => parseImageSpec({ ...valid, idle: { after: 5, acton: 'stop' } }, 'image.yaml'));
  t.regex(nested!.message, /idle\.acton: unknown field/);
});

test('image.yaml: bad values name the field', (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...valid, name: 'Bad Name' }, /name:/],
    [{ ...valid, user: '0:0' }, /user: apps never run as root/],
    [{ ...valid, ports: [{ port: 70000 }] }, /ports\[0\]\.port/],
    [{ ...valid, resources: { memory: 'lots' } }, /resources\.memory/],
    [{ ...valid, resources: { data: 'lots' } }, /resources\.data: expected bytes/],
    [{ ...valid, resources: { data: '4Mi' } }, /resources\.data: at least 8Mi/],
    [{ ...valid, network: 'bridge' }, /network: expected one of none, host/],
    [{ ...valid, files: [{ from: '../etc', to: '/app' }] }, /files\[0\]\.from/],
    [{ version: '1', entrypoint: ['x'] }, /name: required field is missing/],
    [{ ...valid, ports: [{ port: 1 }], health: { port: 'nope' } }, /health\.port: names no port/],
  ];
  for (const [doc, pattern] of cases) {
    const err = t.throws(() => parseImageSpec(doc, 'image.yaml'));
    t.true(isBootosError(err, 'SCHEMA_INVALID'), String(pattern));
    t.regex(err!.message, pattern);
  }
});

test('image.yaml: defaults are filled in', (t) => {
  const { config, files } = parseImageSpec({ ...valid, resources: { memory: '64Mi' } }, 'image.yaml');
  t.is(config.resources.memoryBytes, 64 * 1024 * 1024);
  t.is(config.resources.dataBytes, 64 * 1024 * 1024, "the /data volume's default size");
  t.is(parseImageSpec({ ...valid, resources: { data: '16Mi' } }, 'image.yaml').config.resources.dataBytes, 16 * 1024 * 1024);
  t.deepEqual(config.user, { uid: 1000, gid: 1000 });
  t.is(config.network, 'none');
  t.deepEqual(files, [{ from: '.', to: '/app' }]);
});
