// Reproducibility of `bootos build`: two builds of x86_64 from two different directories at two different times,
// the second with its own cache (only the downloaded packages shared, so unpacking, stripping, archiving and
// compressing all run again) give byte-identical out/x86_64/, disk image included. And a pin that has left the
// Debian archive fails with OS_PIN_GONE telling to run `bootos lock`.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Apt } from '../../fetcher/src/debian/apt.js';
import { cacheDir } from '../../fetcher/src/debian/cache.js';
import { fetchInputs, loadLockfile } from '../../bootos/src/os/lockfile.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { REPO, makeRegistry, tempDir } from '../support/registry.js';

const run = promisify(execFile);
const BIN = join(REPO, 'bin', 'bootos.mjs');

test('two builds in two directories at two times give byte-identical out/x86_64/ (disk image included)', async (t) => {
  t.timeout(15 * 60_000);
  const registry = await makeRegistry();
  const a = await tempDir('bootos-build-a-');
  const b = await tempDir('bootos-build-b-');
  try {
    await writeFile(join(a, 'root.json'), registry.rootBytes);
    await writeFile(join(b, 'root.json'), registry.rootBytes);
    // Build A: the shared cache (~/.cache/bootos or $XDG_CACHE_HOME), from directory A.
    const first = await run(process.execPath, [BIN, 'build', '--arch', 'x86_64', '--root', 'root.json', '--json'], { cwd: a, maxBuffer: 1 << 24 });
    t.regex(first.stderr, /x86_64: done in/);
    // Build B: later, from directory B, with a cache of its own that shares only the verified downloads.
    await new Promise((r) => setTimeout(r, 1100));
    const cacheB = join(b, 'cache');
    await mkdir(join(cacheB, 'bootos', 'blobs'), { recursive: true });
    await symlink(join(cacheDir(), 'blobs', 'sha256'), join(cacheB, 'bootos', 'blobs', 'sha256'));
    await run(process.execPath, [BIN, 'build', '--arch', 'x86_64', '--root', join(b, 'root.json'), '--out', 'elsewhere'], {
      cwd: b,
      env: { ...process.env, XDG_CACHE_HOME: cacheB },
      maxBuffer: 1 << 24,
    });
    const outA = join(a, 'out', 'x86_64');
    const outB = join(b, 'elsewhere', 'x86_64');
    const names = (await readdir(outA, { recursive: true })).sort();
    t.deepEqual((await readdir(outB, { recursive: true })).sort(), names);
    for (const n of ['vmlinuz', 'initramfs', 'cmdline', 'SHA256SUMS', 'bootos-x86_64.img', 'pxe/boot.ipxe', 'pxe/dnsmasq.conf', 'pxe/vmlinuz', 'pxe/initramfs']) {
      t.true(names.includes(n), `${n} is built`);
    }
    t.is(await readFile(join(outB, 'SHA256SUMS'), 'utf8'), await readFile(join(outA, 'SHA256SUMS'), 'utf8'));
    for (const n of names.filter((x) => !x.endsWith('pxe'))) {
      t.true((await readFile(join(outA, n))).equals(await readFile(join(outB, n))), `${n} is byte-identical`);
    }
    // The JSON result lists every file with its sha256, as SHA256SUMS does.
    const result = JSON.parse(first.stdout) as { files: Array<{ name: string; sha256: string }> };
    const sums = (await readFile(join(outA, 'SHA256SUMS'), 'utf8')).trim().split('\n');
    t.deepEqual(result.files.map((f) => `${f.sha256}  ${f.name}`), sums);
  } finally {
    await Promise.all([rm(a, { recursive: true, force: true }), rm(b, { recursive: true, force: true }), registry.cleanup()]);
  }
});

test('a pinned Debian version that left the archive is OS_PIN_GONE, telling to run bootos lock', async (t) => {
  t.timeout(3 * 60_000);
  const lock = await loadLockfile();
  const pin = lock.arches.x86_64.debian['libgcc-s1']!;
  lock.arches.x86_64.debian['libgcc-s1'] = { ...pin, version: '0.0.1-gone', sha256: 'f'.repeat(64) };
  const err = await t.throwsAsync(fetchInputs(lock, 'x86_64', 'amd64'));
  t.true(isBootosError(err, 'OS_PIN_GONE'), String(err));
  t.regex(err!.message, /bootos lock/);
});

test('foreign-architecture apt work keeps to its own state: the host dpkg status and lists are untouched', async (t) => {
  const apt = new Apt('arm64');
  await apt.ensureLists();
  const pin = await apt.candidate('busybox-static');
  t.regex(pin.filename, /_arm64\.deb$/);
  t.regex(pin.sha256, /^[0-9a-f]{64}$/);
  t.is(await readFile(join(apt.dir, 'status'), 'utf8'), '');
  const hostLists = await readdir('/var/lib/apt/lists').catch(() => [] as string[]);
  t.false(hostLists.some((f) => f.includes('binary-arm64')), 'no arm64 lists in the host state');
});

test('bootos build checks its options: usage errors exit 2, a bad trust root exits 1 with a code', async (t) => {
  const usage = await run(process.execPath, [BIN, 'build', '--arch', 'sparc', '--root', 'x.json']).catch((e: { code: number; stderr: string }) => e);
  t.is((usage as { code: number }).code, 2);
  const dir = await tempDir('bootos-build-bad-');
  try {
    await writeFile(join(dir, 'root.json'), '{"signed": {}}');
    const bad = await run(process.execPath, [BIN, 'build', '--arch', 'x86_64', '--root', 'root.json', '--no-disk'], { cwd: dir }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    t.is((bad as { code: number }).code, 1);
    t.regex((bad as { stderr: string }).stderr, /error DOCUMENT_TYPE: trust root root\.json: signed\.type/);
    t.notRegex((bad as { stderr: string }).stderr, /root tree/, 'refused before any work');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
