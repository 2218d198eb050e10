// What this file proves: image.yaml's `debian:` field is strict (names only, no versions, no duplicates, known
// `keep` values, unknown fields named); an image.lock.json that does not cover image.yaml's packages — or is
// missing — is OS_LOCK_STALE naming `bootos lock --image DIR`; and the Debian layer follows its rules, checked on
// .debs built here with dpkg-deb (no network): merged /usr with bin → usr/bin links, usr/share/doc, man, locale…
// dropped unless kept but copyright files kept, climbing links re-aimed, FIFOs skipped, a file in two packages
// refused, hard links kept as tar hard links to the bytewise-first name, and the same lock gives the same layer bytes from two copies of the image folder.
import test from 'ava';
import { cp, link, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { loadImageSpec, parseImageSpec } from '../../fetcher/src/formats/image-spec.js';
import { checkImageLockCovers, loadImageLock, parseImageLock, type ImageLock } from '../../fetcher/src/formats/image-lock.js';
import { sha256File, commitBlob } from '../../fetcher/src/debian/cache.js';
import { debianLayerEntries } from '../../fetcher/src/publish/debian-layer.js';
import { writeLayer, type LayerEntry } from '../../fetcher/src/publish/layer-writer.js';
import { IMAGES, tempDir, testDir } from '../support/registry.js';

// The input cache of this test file only (each ava test file runs in its own process).
const cache = await tempDir('bootos-debian-cache-');
process.env.XDG_CACHE_HOME = cache;
const made: string[] = [cache];
test.after.always(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

const base = { name: 'py', version: '1.0.0', entrypoint: ['/usr/bin/python3'] };

test('debian: a list of names, or {packages, keep}; keep is sorted and deduplicated; absent is null', (t) => {
  t.deepEqual(parseImageSpec({ ...base, debian: ['python3', 'libgcc-s1'] }, 'image.yaml').debian, { packages: ['python3', 'libgcc-s1'], keep: [] });
  t.deepEqual(parseImageSpec({ ...base, debian: { packages: ['nginx'], keep: ['man', 'docs', 'man'] } }, 'image.yaml').debian, {
    packages: ['nginx'],
    keep: ['docs', 'man'],
  });
  t.is(parseImageSpec(base, 'image.yaml').debian, null);
  t.is(parseImageSpec({ ...base, debian: ['python3'] }, 'image.yaml').architecture, null, 'every platform the lock has, unless architecture: says');
});

test('debian: bad values are SCHEMA_INVALID naming the field', (t) => {
  const cases: [unknown, RegExp][] = [
    [[], /debian: name at least one package/],
    [{ packages: [] }, /debian\.packages: name at least one package/],
    ['python3', /debian: expected an object/],
    [['python3=3.11.2-1'], /debian\[0\]: "python3=3\.11\.2-1" is not a Debian package name/],
    [['python3 (>= 3)'], /debian\[0\]: .* is not a Debian package name/],
    [['Python3'], /debian\[0\]/],
    [['python3', 'nginx', 'python3'], /debian\[2\]: duplicate package: python3/],
    [{ pakages: ['python3'] }, /debian\.pakages: unknown field/],
    [{ keep: ['docs'] }, /debian\.packages: required/],
    [{ packages: ['python3'], keep: ['manpages'] }, /debian\.keep\[0\]: expected one of docs, man, info, locales, lintian/],
    [{ packages: [3] }, /debian\.packages\[0\]/],
  ];
  for (const [debian, message] of cases) {
    const err = t.throws(() => parseImageSpec({ ...base, debian }, 'image.yaml'), undefined, JSON.stringify(debian));
    t.true(isBootosError(err, 'SCHEMA_INVALID'), String(err));
    t.regex(err!.message, message);
  }
});

function lockFor(packages: string[], pins: Record<string, string> = Object.fromEntries(packages.map((p) => [p, '1.0']))): ImageLock {
  const debian = Object.fromEntries(
    Object.entries(pins).map(([name, version]) => [name, { version, filename: `${name}_${version}_all.deb`, size: 1, sha256: 'a'.repeat(64) }]),
  );
  return { lockVersion: 1, packages, arches: { amd64: { debian }, arm64: { debian } } };
}

test('the samples\' locks parse, and cover their image.yaml for both platforms', async (t) => {
  for (const name of ['python-web', 'nginx-static']) {
    const dir = join(IMAGES, name);
    const lock = await loadImageLock(dir);
    const spec = await loadImageSpec(dir);
    for (const arch of ['amd64', 'arm64'] as const) {
      t.notThrows(() => checkImageLockCovers(lock, spec.debian!.packages, arch, dir));
      t.true(Object.values(lock.arches[arch].debian).every((p) => p.filename.endsWith(`_${arch}.deb`) || p.filename.endsWith('_all.deb')));
    }
    t.truthy(lock.arches.amd64.debian.libc6, 'dependencies are pinned too');
    t.falsy(lock.arches.amd64.debian['base-files'], 'Essential packages come only when depended upon');
  }
});

test('a lock that does not cover image.yaml is OS_LOCK_STALE naming `bootos lock --image DIR`', async (t) => {
  const stale = (lock: ImageLock, packages: string[]) => {
    const err = t.throws(() => checkImageLockCovers(lock, packages, 'arm64', 'images/web'));
    t.true(isBootosError(err, 'OS_LOCK_STALE'), String(err));
    t.regex(err!.message, /run `bootos lock --image images\/web`/);
    return err!.message;
  };
  t.notThrows(() => checkImageLockCovers(lockFor(['python3']), ['python3'], 'arm64', 'images/web'));
  t.regex(stale(lockFor(['python3']), ['python3', 'nginx']), /nginx is not locked/);
  t.regex(stale(lockFor(['python3', 'nginx']), ['python3']), /made for nginx too/);
  t.regex(stale(lockFor(['python3'], { libc6: '2.36' }), ['python3']), /package python3 is not pinned/);
  const dir = await testDir(t);
  const missing = await t.throwsAsync(loadImageLock(dir));
  t.true(isBootosError(missing, 'OS_LOCK_STALE'));
  t.regex(missing!.message, /image\.lock\.json not found; run `bootos lock --image /);
});

test('image.lock.json is strict: unknown fields, a missing platform, a bad sha256 are SCHEMA_INVALID', (t) => {
  const good = lockFor(['python3']);
  t.notThrows(() => parseImageLock(JSON.stringify(good), 'image.lock.json'));
  const bad: [unknown, RegExp][] = [
    [{ ...good, extra: 1 }, /extra: unknown field/],
    [{ ...good, arches: { amd64: good.arches.amd64 } }, /arches\.arm64: required/],
    [{ ...good, arches: { ...good.arches, arm64: { debian: { python3: { ...good.arches.arm64.debian.python3, sha256: 'xyz' } } } } }, /sha256: expected 64 hex digits/],
    [{ ...good, packages: ['Bad Name'] }, /packages\[0\]: not a Debian package name/],
  ];
  for (const [doc, message] of bad) {
    const err = t.throws(() => parseImageLock(JSON.stringify(doc), 'image.lock.json'));
    t.true(isBootosError(err, 'SCHEMA_INVALID'), String(err));
    t.regex(err!.message, message);
  }
});

/** Builds a .deb of `files` with dpkg-deb and puts it into the test's input cache; returns its pin. */
async function fakeDeb(name: string, build: (root: string) => Promise<void>) {
  const dir = await tempDir(`bootos-deb-${name}-`);
  made.push(dir);
  const root = join(dir, 'root');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN', 'control'), `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n`);
  // A maintainer script that must never run.
  await writeFile(join(root, 'DEBIAN', 'postinst'), '#!/bin/sh\ntouch /tmp/bootos-postinst-ran\n', { mode: 0o755 });
  await build(root);
  const deb = join(dir, `${name}_1.0_all.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb], { stdio: 'ignore' });
  const { sha256, size } = await sha256File(deb);
  await commitBlob(deb, { sha256, size }, name);
  return { version: '1.0', filename: `${name}_1.0_all.deb`, size, sha256 };
}

async function put(root: string, path: string, body = path, mode = 0o644) {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), body, { mode });
}

async function imageWithDebs(t: { teardown(fn: () => unknown): void }, pins: ImageLock['arches']['amd64']['debian'], keep: string[] = []) {
  const dir = join(await testDir(t), 'img');
  await mkdir(dir);
  const packages = Object.keys(pins).slice(0, 1);
  await writeFile(join(dir, 'image.yaml'), JSON.stringify({ ...base, debian: { packages, keep } }));
  const lock: ImageLock = { lockVersion: 1, packages, arches: { amd64: { debian: pins }, arm64: { debian: pins } } };
  await writeFile(join(dir, 'image.lock.json'), JSON.stringify(lock));
  return { dir, spec: parseImageSpec({ ...base, debian: { packages, keep } }, 'image.yaml') };
}

test('the Debian layer: merged /usr, docs dropped but copyright kept, climbing links re-aimed, FIFOs skipped, no script run', async (t) => {
  const app = await fakeDeb('app', async (root) => {
    await put(root, 'usr/bin/app', '#!/bin/app\n', 0o755);
    await put(root, 'lib/x86_64-linux-gnu/libapp.so.1.0');
    await symlink('libapp.so.1.0', join(root, 'lib/x86_64-linux-gnu/libapp.so.1'));
    await mkdir(join(root, 'lib64'));
    await symlink('../lib/x86_64-linux-gnu/libapp.so.1', join(root, 'lib64/ld-app.so'));
    await put(root, 'bin/app-tool', 'tool', 0o4755);
    await put(root, 'usr/share/doc/app/copyright', 'GPL');
    await put(root, 'usr/share/doc/app/changelog.Debian.gz');
    await put(root, 'usr/share/man/man1/app.1.gz');
    await put(root, 'usr/share/locale/de/LC_MESSAGES/app.mo');
    await put(root, 'usr/share/lintian/overrides/app');
    await put(root, 'usr/share/app/data.txt');
    await put(root, 'etc/app.conf');
    execFileSync('mkfifo', [join(root, 'usr/share/app/fifo')]);
  });
  const { dir, spec } = await imageWithDebs(t, { app });
  const layer = await debianLayerEntries(dir, spec, 'amd64');
  const byPath = new Map(layer.entries.map((e) => [e.path, e]));
  const paths = [...byPath.keys()].filter((p) => byPath.get(p)!.type !== 'directory').sort();
  t.deepEqual(paths, [
    'bin',
    'etc/app.conf',
    'lib',
    'lib64',
    'usr/bin/app',
    'usr/bin/app-tool',
    'usr/lib/x86_64-linux-gnu/libapp.so.1',
    'usr/lib/x86_64-linux-gnu/libapp.so.1.0',
    'usr/lib64/ld-app.so',
    'usr/share/app/data.txt',
    'usr/share/doc/app/copyright',
  ]);
  t.deepEqual(byPath.get('bin'), { path: 'bin', type: 'symlink', target: 'usr/bin' });
  t.deepEqual(byPath.get('lib64'), { path: 'lib64', type: 'symlink', target: 'usr/lib64' });
  t.is((byPath.get('usr/lib/x86_64-linux-gnu/libapp.so.1') as { target: string }).target, 'libapp.so.1.0', 'a link beside its target is kept as it is');
  t.is((byPath.get('usr/lib64/ld-app.so') as { target: string }).target, '/lib/x86_64-linux-gnu/libapp.so.1', 'a climbing link of a moved folder is made absolute');
  t.true((byPath.get('usr/bin/app') as { executable: boolean }).executable);
  t.false(byPath.has('usr/share/man'), 'an empty dropped folder is not in the layer');
  t.deepEqual(layer.skipped, ['app: /usr/share/app/fifo']);
  t.deepEqual(Object.keys(layer.packages), ['app']);

  const kept = await imageWithDebs(t, { app }, ['man', 'locales']);
  const withMan = (await debianLayerEntries(kept.dir, kept.spec, 'amd64')).entries.map((e) => e.path);
  t.true(withMan.includes('usr/share/man/man1/app.1.gz'));
  t.true(withMan.includes('usr/share/locale/de/LC_MESSAGES/app.mo'));
  t.false(withMan.includes('usr/share/doc/app/changelog.Debian.gz'));
  await t.throwsAsync(readFile('/tmp/bootos-postinst-ran'), { code: 'ENOENT' }, 'no maintainer script ran');
});

test('hard links in a package stay hard links: the bytewise-first name carries the bytes, once', async (t) => {
  const mesa = await fakeDeb('mesa', async (root) => {
    await put(root, 'usr/lib/dri/zink_dri.so', 'x'.repeat(4096), 0o644);
    await link(join(root, 'usr/lib/dri/zink_dri.so'), join(root, 'usr/lib/dri/i915_dri.so'));
    await link(join(root, 'usr/lib/dri/zink_dri.so'), join(root, 'usr/lib/dri/swrast_dri.so'));
    await put(root, 'usr/lib/dri/other.so', 'y');
  });
  const { dir, spec } = await imageWithDebs(t, { mesa });
  const layer = await debianLayerEntries(dir, spec, 'amd64');
  const byPath = new Map(layer.entries.map((e) => [e.path, e]));
  t.like(byPath.get('usr/lib/dri/i915_dri.so'), { type: 'file', size: 4096 });
  t.deepEqual(byPath.get('usr/lib/dri/swrast_dri.so'), { path: 'usr/lib/dri/swrast_dri.so', type: 'hardlink', target: 'usr/lib/dri/i915_dri.so', executable: false });
  t.deepEqual(byPath.get('usr/lib/dri/zink_dri.so'), { path: 'usr/lib/dri/zink_dri.so', type: 'hardlink', target: 'usr/lib/dri/i915_dri.so', executable: false });
  t.like(byPath.get('usr/lib/dri/other.so'), { type: 'file', size: 1 });
  t.is(layer.unpackedBytes, 4096 + 1, 'the linked bytes count once');
  const out = await testDir(t);
  const written = await writeLayer(layer.entries, out);
  const listing = execFileSync('tar', ['-tvzf', written.path], { encoding: 'utf8' });
  t.regex(listing, /usr\/lib\/dri\/swrast_dri\.so link to usr\/lib\/dri\/i915_dri\.so/);
  t.regex(listing, /usr\/lib\/dri\/zink_dri\.so link to usr\/lib\/dri\/i915_dri\.so/);
});

test('a file in two packages is IMAGE_INVALID naming both; a shared folder is fine', async (t) => {
  const one = await fakeDeb('one', (root) => put(root, 'usr/lib/same.so'));
  const two = await fakeDeb('two', (root) => put(root, 'lib/same.so'));
  const { dir, spec } = await imageWithDebs(t, { one, two });
  const err = await t.throwsAsync(debianLayerEntries(dir, spec, 'amd64'));
  t.true(isBootosError(err, 'IMAGE_INVALID'), String(err));
  t.regex(err!.message, /usr\/lib\/same\.so is in two packages, one and two/);
});

test('the same lock gives the same layer bytes from two copies of the image folder', async (t) => {
  const app = await fakeDeb('app2', async (root) => {
    for (let i = 0; i < 20; i++) await put(root, `usr/share/app2/f${i}`, `file ${i}\n`.repeat(i * 50));
    await put(root, 'usr/bin/app2', 'x', 0o755);
  });
  const { dir, spec } = await imageWithDebs(t, { app2: app });
  const copy = join(await testDir(t), 'elsewhere', 'img');
  await cp(dir, copy, { recursive: true });
  const write = async (entries: LayerEntry[]) => {
    const out = await testDir(t);
    return writeLayer(entries, out, 1_700_000_000);
  };
  const a = await write((await debianLayerEntries(dir, spec, 'amd64')).entries);
  const b = await write((await debianLayerEntries(copy, spec, 'amd64')).entries);
  t.is(a.digest, b.digest);
  t.is(a.diffId, b.diffId);
});
