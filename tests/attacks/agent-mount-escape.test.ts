// Proves: the agent, running as root, creates nothing outside an image root when it makes the mount points that
// its binds (the bundled Node, /data) need. The attack is a validly signed layer holding only absolute symlinks into
// a host directory (`lib64 -> /host/dir/lib64`, `lib`, `usr`, `data`): the path gate admits them, because inside
// the container they resolve inside the root, but a host-side mkdir -p or open() would follow them into the host.
// The mount points must be made inside the root, where runc binds them, so the app starts and answers. The same holds
// for /tmp, whose mode the agent sets to 1777 (a link named tmp changes the root's directory, not the host's).
import test from 'ava';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureInRoot } from '../../bootos/src/agent/runtime/mount-points.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { DEFAULT_LIMITS } from '../../fetcher/src/core/limits.js';
import { agentEnv, json } from '../support/agent.js';
import { makeTarGz } from '../support/make-tar.js';
import { publishRawImage } from '../support/raw-image.js';
import { IMAGES, tempDir, testDir } from '../support/registry.js';

const HOPS = DEFAULT_LIMITS.maxSymlinkHops;

/** Every path under `dir`, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

const SERVER = `require('node:http').createServer((q, s) => s.end(JSON.stringify({ ok: true }))).listen(8080);\n`;

test('a layer of absolute symlinks into the host gets its mount points inside the root, and the app still runs', async (t) => {
  const victim = await tempDir('bootos-victim-');
  for (const dir of ['lib64', 'lib', 'usr', 'data']) await mkdir(join(victim, dir));
  const before = await tree(victim);
  const env = await agentEnv({
    images: [join(IMAGES, 'hello')], // the registry needs one published image before its first signing
    setup: async (registry) => {
      const layer = makeTarGz([
        ...['lib64', 'lib', 'usr', 'data'].map((name) => ({ path: name, type: 'symlink', linkname: join(victim, name) })),
        { path: 'app', type: 'dir', mode: 0o755 },
        { path: 'app/server.js', body: SERVER, mode: 0o644 },
        { path: 'tmp', type: 'dir', mode: 0o755 },
        ...['proc', 'dev', 'sys'].map((name) => ({ path: name, type: 'dir', mode: 0o755 })),
      ]);
      await publishRawImage(registry.dir, 'evil', [layer], {
        spec: { runtime: 'node', entrypoint: ['node', '/app/server.js'], ports: [{ port: 8080, public: 18190 }], data: true },
      });
      await registry.sign({ office: ['evil'] });
    },
  });
  try {
    const answer = await env.get('evil');
    t.is(answer.status, 200, 'the app started: its binds landed where runc put them, inside the root');
    t.deepEqual(await json(answer), { ok: true });
    t.deepEqual(await tree(victim), before, 'nothing was created in the host directory the links point at');
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    await rm(victim, { recursive: true, force: true });
  }
});

test('links are followed as the container follows them: absolute from the root, .. stops at the root', async (t) => {
  const root = await testDir(t, 'bootos-root-');
  const outside = await testDir(t, 'bootos-outside-');
  await symlink(outside, join(root, 'abs'));
  await symlink('../../../../..', join(root, 'up'));
  await symlink('loop2', join(root, 'loop1'));
  await symlink('loop1', join(root, 'loop2'));
  t.is(await ensureInRoot(root, { path: '/abs/x/y', file: false }, HOPS), join(root, outside, 'x/y'));
  t.is(await ensureInRoot(root, { path: '/up/etc/passwd', file: true }, HOPS), join(root, 'etc/passwd'));
  t.is(await ensureInRoot(root, { path: '/a/../../../b', file: false }, HOPS), join(root, 'b'));
  const loop = await ensureInRoot(root, { path: '/loop1/x', file: false }, HOPS).catch((err: unknown) => err);
  t.true(isBootosError(loop, 'APP_START_FAILED'), 'a symlink loop is refused with a code');
  t.deepEqual(await readdir(outside), [], 'nothing outside the root');
});

test('/tmp made 1777 inside the root: a tmp link to a host directory changes the root\'s copy, never the host\'s', async (t) => {
  const root = await testDir(t, 'bootos-root-');
  // Not under /tmp, where the root itself lies: a link named tmp to /tmp/… would be a loop in the root.
  const outside = await mkdtemp('/var/tmp/bootos-outside-');
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  await chmod(outside, 0o755);
  await symlink(outside, join(root, 'tmp'));
  const made = await ensureInRoot(root, { path: '/tmp', file: false, mode: 0o1777 }, HOPS);
  t.is(made, join(root, outside));
  t.is((await stat(made)).mode & 0o7777, 0o1777);
  t.is((await stat(outside)).mode & 0o7777, 0o755, 'the host directory the link names keeps its mode');
  const plain = await testDir(t, 'bootos-root-');
  await writeFile(join(plain, 'tmp'), 'a file where /tmp should be');
  const refused = await ensureInRoot(plain, { path: '/tmp', file: false, mode: 0o1777 }, HOPS).catch((err: unknown) => err);
  t.true(isBootosError(refused, 'APP_START_FAILED'), 'a file at /tmp is refused with a code');
});
