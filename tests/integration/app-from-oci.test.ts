// `from:` an OCI image built here by a standard tool: umoci (Debian's package) makes a two-layer OCI layout from
// Debian's static busybox — a device node in the first layer, a whiteout in the second, the process in the config
// (Entrypoint + Cmd, ExposedPorts, WorkingDir; User left as root). Published with `from: oci:DIR:REF`, its layers
// keep their digests; the agent on the host serves it through runc: the first request starts it, it stops when
// idle, the next request starts it again; podman runs the published image from the registry directory. Also: the publisher's refusals (native code in an `any` image, an
// entrypoint that is missing or not executable, a source tag that is not there), a docker-archive source, a
// registry source and a multi-platform source (an index of amd64 and arm64 images).
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { publishImage } from '../../fetcher/src/publish/publish.js';
import { blobPath } from '../../fetcher/src/formats/oci.js';
import { agentEnv, json, until } from '../support/agent.js';
import { REPO, tempDir } from '../support/registry.js';
import { fetchDebs } from '../../fetcher/src/debian/fetch-debs.js';
import { unpackDeb } from '../../fetcher/src/debian/unpack-deb.js';
import { startDockerRegistry } from '../support/docker-registry.js';

const run = promisify(execFile);

let work: string;
let sourceLayers: string[];

/** An OCI layout at work/layout holding `web`: busybox httpd serving /www. */
async function buildWithUmoci(dir: string): Promise<string[]> {
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:web`]);
  await run('umoci', ['unpack', '--image', `${layout}:web`, bundle]);
  const root = join(bundle, 'rootfs');
  for (const d of ['bin', 'www', 'dev']) await mkdir(join(root, d), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
  await symlink('busybox', join(root, 'bin', 'sh'));
  await writeFile(join(root, 'www', 'index.html'), 'first layer\n');
  await writeFile(join(root, 'www', 'old.txt'), 'removed by the second layer\n');
  await run('mknod', [join(root, 'dev', 'console'), 'c', '5', '1']);
  await run('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:web`, bundle]);
  // Second layer: a changed page and a whiteout.
  await writeFile(join(root, 'www', 'index.html'), 'hello from an OCI image\n');
  await rm(join(root, 'www', 'old.txt'));
  await run('umoci', ['repack', '--image', `${layout}:web`, bundle]);
  await run('umoci', [
    'config', '--image', `${layout}:web`,
    '--config.entrypoint', '/bin/busybox',
    '--config.cmd', 'httpd', '--config.cmd', '-f', '--config.cmd', '-p', '--config.cmd', '8080', '--config.cmd', '-h', '--config.cmd', '/www',
    '--config.exposedports', '8080/tcp',
    '--config.workingdir', '/www',
  ]);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(join(layout, blobPath(index.manifests[0].digest)), 'utf8'));
  return manifest.layers.map((l: { digest: string }) => l.digest);
}

async function imageFolder(name: string, yaml: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'image.yaml'), `name: ${name}\nversion: 1.0.0\n${yaml}`);
  return dir;
}

test.before(async () => {
  work = await tempDir('bootos-from-oci-');
  sourceLayers = await buildWithUmoci(work);
});

test.after.always(() => rm(work, { recursive: true, force: true }));

test.serial('published with from: oci:DIR:REF, the layers keep their digests; device nodes are reported', async (t) => {
  const dir = await imageFolder('web-oci', 'from: oci:../layout:web\n');
  const notes: string[] = [];
  const result = await publishImage(dir, join(work, 'registry'), { onProgress: (m) => notes.push(m) });
  t.deepEqual(result.platforms.map((p) => p.architecture), ['amd64'], "the source's platform");
  t.is(sourceLayers.length, 2);
  t.deepEqual(result.layers.slice(0, 2).map((l) => l.digest), sourceLayers, 'the source layers, byte for byte');
  t.true(notes.some((n) => /skip 1 device node.*dev\/console \(character-device\)/.test(n)), notes.join('\n'));
  t.true(notes.some((n) => /runs as root; bootos runs it as 1000:1000/.test(n)), notes.join('\n'));
});

test.serial('the agent serves it through runc: first request starts it, idle stop, restart', async (t) => {
  const dir = await imageFolder('web-oci', 'from: oci:../layout:web\nidle:\n  after: 1\nhealth:\n  http: /index.html\n');
  const env = await agentEnv({ images: [dir] });
  try {
    const app = env.agent.apps.get('web-oci')!;
    t.is(app.state, 'available');
    const first = await env.get('web-oci', '/index.html');
    t.is(first.status, 200);
    t.is(await first.text(), 'hello from an OCI image\n', "the second layer's page");
    t.is((await env.get('web-oci', '/old.txt')).status, 404, 'the whiteout removed old.txt');
    const apps = await json(await env.api('/api/apps'));
    t.is(apps.apps.find((a: { name: string }) => a.name === 'web-oci').ports[0].appPort, 8080, 'the port from ExposedPorts');
    await until(() => app.state === 'stopped', 15_000);
    t.deepEqual(app.containerIds(), []);
    const again = await env.get('web-oci', '/index.html');
    t.is(again.status, 200);
    await again.text();
    t.is(app.starts, 2);
  } finally {
    t.deepEqual((await env.teardown()).leftovers, []);
  }
});

test.serial('refused: native code in an `any` image, a missing or non-executable entrypoint, a missing tag', async (t) => {
  const registry = join(work, 'registry-refused');
  const any = await imageFolder('any-oci', 'from: oci:../layout:web\narchitecture: any\n');
  const e1 = await t.throwsAsync(publishImage(any, registry));
  t.true(isBootosError(e1, 'IMAGE_ARCH_MISMATCH'), String(e1));
  t.regex(e1!.message, /\/bin\/busybox \(x86_64\)/);

  const arm = await imageFolder('arm-oci', 'from: oci:../layout:web\narchitecture: arm64\n');
  const e2 = await t.throwsAsync(publishImage(arm, registry));
  t.true(isBootosError(e2, 'IMAGE_SOURCE_INVALID'), String(e2));
  t.regex(e2!.message, /no linux\/arm64 image/);

  const missing = await imageFolder('missing-oci', 'from: oci:../layout:web\nentrypoint: [/bin/nothere]\n');
  const e3 = await t.throwsAsync(publishImage(missing, registry));
  t.true(isBootosError(e3, 'IMAGE_ENTRYPOINT_MISSING'), String(e3));
  t.regex(e3!.message, /\/bin\/nothere/);

  const viaPath = await imageFolder('path-oci', 'from: oci:../layout:web\nentrypoint: [sh, -c, "exit 0"]\nenv:\n  PATH: /bin\n');
  await t.notThrowsAsync(publishImage(viaPath, registry), 'sh is found through PATH and the bin/sh symlink');

  const page = await imageFolder('page-oci', 'from: oci:../layout:web\nentrypoint: [/www/index.html]\n');
  const e4 = await t.throwsAsync(publishImage(page, registry));
  t.true(isBootosError(e4, 'IMAGE_ENTRYPOINT_MISSING'), String(e4));
  t.regex(e4!.message, /not executable/);

  const tag = await imageFolder('tag-oci', 'from: oci:../layout:nope\n');
  const e5 = await t.throwsAsync(publishImage(tag, registry));
  t.true(isBootosError(e5, 'IMAGE_SOURCE_INVALID'), String(e5));
  t.regex(e5!.message, /no image named nope in the layout \(it has: web\)/);

  // Nothing of a refused image is in the registry's index.
  const index = JSON.parse(await readFile(join(registry, 'index.json'), 'utf8'));
  t.deepEqual(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['dev.bootos.image.name']), ['path-oci']);
});

test.serial('an image of its own files only is `any`: a native binary in it is refused, naming the file', async (t) => {
  const dir = await imageFolder('native-any', 'entrypoint: [/app/busybox]\n');
  await copyFile('/bin/busybox', join(dir, 'busybox'));
  const err = await t.throwsAsync(publishImage(dir, join(work, 'registry-native')));
  t.true(isBootosError(err, 'IMAGE_ARCH_MISMATCH'), String(err));
  t.regex(err!.message, /architecture is any, but the image holds native code: \/app\/busybox \(x86_64\)/);
  await writeFile(join(dir, 'image.yaml'), 'name: native-any\nversion: 1.0.0\nentrypoint: [/app/busybox]\narchitecture: amd64\n');
  const ok = await publishImage(dir, join(work, 'registry-native'));
  t.deepEqual(ok.platforms.map((p) => p.architecture), ['amd64']);
});

test.serial('a docker-archive (skopeo copy oci: → docker-archive:) gives the same image content', async (t) => {
  const archive = join(work, 'web.tar');
  await run('skopeo', ['copy', '--quiet', `oci:${join(work, 'layout')}:web`, `docker-archive:${archive}:web:latest`]);
  const dir = await imageFolder('web-docker', 'from: docker-archive:../web.tar\n');
  const result = await publishImage(dir, join(work, 'registry-docker'));
  t.is(result.layers.length, 3, 'two source layers and our own skeleton layer');
  t.deepEqual(result.platforms.map((p) => p.architecture), ['amd64']);
});

test.serial('podman runs a bootos-published image straight from the registry directory (an OCI layout)', async (t) => {
  const dir = await imageFolder('web-podman', 'from: oci:../layout:web\n');
  // podman names an oci: image after its path, which must then be lowercase.
  const registry = join(tmpdir(), `bootos-podman-${randomBytes(4).toString('hex')}`);
  t.teardown(() => rm(registry, { recursive: true, force: true }));
  await publishImage(dir, registry);
  const storage = join(work, 'podman');
  const podman = (...args: string[]) => run('podman', ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs', ...args], { timeout: 120_000 });
  const port = 18_000 + Math.floor(Math.random() * 1000);
  // Low ulimits: podman's defaults are above what this machine lets a container raise them to.
  const { stdout } = await podman('run', '-d', '--rm', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '-p', `127.0.0.1:${port}:8080`, `oci:${registry}:web-podman-1.0.0`);
  const id = stdout.trim().split('\n').pop()!;
  try {
    const inspect = JSON.parse((await podman('inspect', id)).stdout)[0];
    t.is(inspect.Config.User, '1000:1000', "the bootos config's user, from the standard field");
    let body = '';
    for (let i = 0; i < 50 && !body; i++) {
      body = await fetch(`http://127.0.0.1:${port}/index.html`).then((r) => r.text(), () => '');
      if (!body) await new Promise((r) => setTimeout(r, 200));
    }
    t.is(body, 'hello from an OCI image\n');
  } finally {
    await podman('rm', '-f', id).catch(() => {});
    await rm(storage, { recursive: true, force: true });
  }
});

test.serial('from: a registry reference (oci+http://HOST/REPO:TAG) carries the same layers', async (t) => {
  const registry = await startDockerRegistry();
  try {
    const ref = `${registry.url('src').replace(/^oci\+http:\/\//, '')}/web:1`;
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(work, 'layout')}:web`, `docker://${ref}`]);
    const dir = await imageFolder('web-registry', `from: oci+http://${ref}\n`);
    const result = await publishImage(dir, join(work, 'registry-from-registry'));
    t.deepEqual(result.layers.slice(0, 2).map((l) => l.digest), sourceLayers);
    const missing = await imageFolder('web-registry-missing', `from: oci+http://${ref.replace(/:1$/, ':2')}\n`);
    const err = await t.throwsAsync(publishImage(missing, join(work, 'registry-from-registry')));
    t.true(isBootosError(err, 'HTTP_ERROR'), String(err));
    t.regex(err!.message, /manifests\/2: HTTP 404/);
  } finally {
    await registry.stop();
  }
});

test.serial('a multi-platform source (an OCI index of amd64 and arm64) gives a bootos image for both platforms', async (t) => {
  // The arm64 image holds Debian's arm64 static busybox (as pinned for the OS image), so that it passes the check.
  const lock = JSON.parse(await readFile(join(REPO, 'bootos', 'os', 'bootos.lock.json'), 'utf8'));
  const pin = lock.arches.aarch64.debian['busybox-static'];
  const debs = await fetchDebs({ 'busybox-static': pin }, 'arm64');
  const unpacked = await unpackDeb(debs['busybox-static']!);
  const layout = join(work, 'layout');
  const bundle = join(work, 'bundle-arm');
  await run('umoci', ['new', '--image', `${layout}:web-arm`]);
  await run('umoci', ['config', '--image', `${layout}:web-arm`, '--architecture', 'arm64', '--config.entrypoint', '/bin/busybox', '--config.cmd', 'httpd']);
  await run('umoci', ['unpack', '--image', `${layout}:web-arm`, bundle]);
  await mkdir(join(bundle, 'rootfs', 'bin'), { recursive: true });
  await copyFile(join(unpacked, 'bin', 'busybox'), join(bundle, 'rootfs', 'bin', 'busybox'));
  await run('umoci', ['repack', '--image', `${layout}:web-arm`, bundle]);
  // An index of the two, under the ref "multi", as a multi-platform build tool writes it.
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const byRef = (ref: string) => index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  const platformOf = (d: { mediaType: string; digest: string; size: number }, architecture: string) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { architecture, os: 'linux' } });
  const multi = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [platformOf(byRef('web'), 'amd64'), platformOf(byRef('web-arm'), 'arm64')] }));
  const digest = `sha256:${createHash('sha256').update(multi).digest('hex')}`;
  await writeFile(join(layout, blobPath(digest)), multi);
  index.manifests.push({ mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: multi.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } });
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));

  const dir = await imageFolder('web-multi', 'from: oci:../layout:multi\n');
  const result = await publishImage(dir, join(work, 'registry-multi'));
  t.deepEqual(result.platforms.map((p) => p.architecture), ['amd64', 'arm64']);
  const armManifest = JSON.parse(await readFile(join(layout, blobPath(byRef('web-arm').digest)), 'utf8'));
  t.deepEqual(result.platforms[1]!.layers.slice(0, -1).map((l) => l.digest), armManifest.layers.map((l: { digest: string }) => l.digest));
  t.deepEqual(result.platforms[0]!.layers.slice(0, 2).map((l) => l.digest), sourceLayers);
  const armConfig = JSON.parse(await readFile(join(work, 'registry-multi', blobPath(JSON.parse(await readFile(join(work, 'registry-multi', blobPath(result.platforms[1]!.manifest.digest)), 'utf8')).config.digest)), 'utf8'));
  t.is(armConfig.architecture, 'arm64');
});
