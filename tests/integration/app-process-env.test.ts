// The process environment of an app, as root with the real runc and the real agent, with `runtime: none` images
// whose program is the host's static busybox: tini is PID 1 (init, the default for runtime none) and reaps an orphan
// that the kernel hands to it; a SIGTERM stop ends the app at once (as tini's child it gets the default action, where
// as PID 1 it would ignore SIGTERM until the SIGKILL of the grace period); an image's stopSignal is what the app gets;
// /tmp is writable by the app's uid (1000) although runc gives the tmpfs the mode of the directory it covers; the
// image's PATH and HOME win over the defaults and each variable is passed once.
import test from 'ava';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentEnv, until, type AgentEnv } from '../support/agent.js';
import { makeTarGz } from '../support/make-tar.js';
import { publishRawImage } from '../support/raw-image.js';
import { makeImageDir } from '../support/registry.js';

const BUSYBOX = '/bin/busybox'; // Debian's busybox-static: runs in an image with no libc

// An orphan: the subshell exits at once, so its child is handed to PID 1 and becomes a zombie when it exits unless
// PID 1 reaps it. Without an init, PID 1 is the `sleep` that the script execs, which never waits for anything.
const PROCENV_SCRIPT = `B=/app/busybox
echo "uid: $($B id -u)"
echo "tmp mode: $($B stat -c %a /tmp)"
if echo hello > /tmp/probe; then echo "tmp: writable"; else echo "tmp: not writable"; fi
$B tr '\\0' '\\n' < /proc/$$/environ | $B sed 's/^/env: /'
$B httpd -f -p 8080 -h /app/www &
( $B sh -c "$B sleep 0.5; echo 'orphan: exiting'" & )
exec $B sleep 100000
`;

// An imported image's: says whether uid 1000 can write in /tmp, then serves.
const TMP_SCRIPT = `B=/app/busybox
if echo hello > /tmp/probe; then echo "tmp: writable"; else echo "tmp: not writable"; fi
exec $B httpd -f -p 8080 -h /app
`;

/** A hand-made layer like a third-party image's: /tmp 0755 (as many have) or no /tmp at all. */
async function importedLayer(tmp: 'tmp 0755' | 'no tmp'): Promise<Buffer> {
  return makeTarGz([
    ...['app', 'proc', 'dev', 'sys'].map((path) => ({ path, type: 'dir', mode: 0o755 })),
    ...(tmp === 'tmp 0755' ? [{ path: 'tmp', type: 'dir', mode: 0o755 }] : []),
    { path: 'app/busybox', body: await readFile(BUSYBOX), mode: 0o755 },
    { path: 'app/run', body: TMP_SCRIPT, mode: 0o755 },
    { path: 'app/index.html', body: 'ok\n', mode: 0o644 },
  ]);
}

// A shell waiting in \`wait\` runs its traps at once: it says which signal stopped it.
const QUITTER_SCRIPT = `B=/app/busybox
echo "path: $PATH"
trap 'echo "stop signal: QUIT"; exit 0' QUIT
trap 'echo "stop signal: TERM"; exit 0' TERM
$B httpd -f -p 8080 -h /app/www &
$B sleep 100000 &
wait
`;

async function busyboxImage(name: string, port: number, script: string, extra: string): Promise<string> {
  const dir = await makeImageDir(
    { 'run.sh': script, 'www/index.html': 'ok\n' },
    `name: ${name}\nversion: 1.0.0\ndescription: process environment probe\nruntime: none\narchitecture: amd64\nentrypoint: [/app/busybox, sh, /app/run.sh]\nports:\n  - port: 8080\n    public: ${port}\nresources: { memory: 32Mi, pids: 16 }\n${extra}`,
  );
  await copyFile(BUSYBOX, join(dir, 'busybox'));
  return dir;
}

let env: AgentEnv;

test.before(async () => {
  const procenv = await busyboxImage('procenv', 18471, PROCENV_SCRIPT, 'env: { PATH: /app/bin:/usr/bin:/bin, HOME: /data, GREETING: hi }\ndata: true\n');
  const quitter = await busyboxImage('quitter', 18472, QUITTER_SCRIPT, 'stopSignal: SIGQUIT\n');
  env = await agentEnv({
    images: [procenv, quitter],
    limits: { stopGraceMs: 3000 },
    setup: async (registry) => {
      const spec = (port: number) => ({ spec: { entrypoint: ['/app/busybox', 'sh', '/app/run'], ports: [{ port: 8080, public: port }] } });
      await publishRawImage(registry.dir, 'tmp755', [await importedLayer('tmp 0755')], spec(18473));
      await publishRawImage(registry.dir, 'notmp', [await importedLayer('no tmp')], spec(18474));
      await registry.sign({ office: ['procenv', 'quitter', 'tmp755', 'notmp'] });
    },
  });
});

test.after.always(async (t) => {
  if (!env) return;
  const { leftovers } = await env.teardown();
  t.deepEqual(leftovers, []);
});

const app = (name: string) => env.agent.apps.get(name)!;
const logLines = (name: string) => app(name).logs.tail();

/** The container's processes seen from the host: its init (runc state) and everything under it, with their states. */
async function processTree(name: string): Promise<{ pid: number; ppid: number; state: string; comm: string }[]> {
  const [id] = app(name).containerIds();
  const init = (await env.agent.runc.list()).find((c) => c.id === id);
  if (!init) throw new Error(`no container ${id}`);
  const all: { pid: number; ppid: number; state: string; comm: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    // "pid (comm) S ppid …": comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    all.push({ pid: Number(entry), ppid: Number(ppid), state: state!, comm: stat.slice(stat.indexOf('(') + 1, close) });
  }
  const tree = all.filter((p) => p.pid === init.pid);
  for (let i = 0; i < tree.length; i++) tree.push(...all.filter((p) => p.ppid === tree[i]!.pid));
  return tree;
}

test.serial('/tmp is a 1777 tmpfs: writable by uid 1000', async (t) => {
  t.is(await (await env.get('procenv')).text(), 'ok\n');
  const lines = logLines('procenv');
  t.true(lines.includes('uid: 1000'), lines.join('\n'));
  t.true(lines.includes('tmp: writable'), `uid 1000 can write in /tmp: ${lines.join(' | ')}`);
  t.true(lines.includes('tmp mode: 1777'));
});

test.serial('/tmp of imported images: a 0755 one, and a missing one (runc makes it 0755 for the next start), are 1777', async (t) => {
  t.is(await (await env.get('tmp755')).text(), 'ok\n');
  t.true(logLines('tmp755').includes('tmp: writable'), logLines('tmp755').join(' | '));
  for (let start = 1; start <= 2; start++) {
    t.is(await (await env.get('notmp')).text(), 'ok\n');
    t.deepEqual(logLines('notmp').filter((l) => l.startsWith('tmp: ')), Array(start).fill('tmp: writable'), `start ${start}`);
    await app('notmp').stop();
  }
});

test.serial('env: PATH and HOME of the image win, each variable once; without a PATH of its own, the OCI default', async (t) => {
  t.is(await (await env.get('procenv')).text(), 'ok\n');
  const vars = logLines('procenv').filter((l) => l.startsWith('env: ')).map((l) => l.slice('env: '.length));
  t.deepEqual(vars.filter((v) => v.startsWith('PATH=')), ['PATH=/app/bin:/usr/bin:/bin'], 'one PATH, the image’s');
  t.deepEqual(vars.filter((v) => v.startsWith('HOME=')), ['HOME=/data'], 'one HOME, the image’s');
  t.true(vars.includes('GREETING=hi') && vars.includes('BOOTOS_APP=procenv'));
  t.is(new Set(vars.map((v) => v.split('=')[0])).size, vars.length, 'no variable twice');
  t.is(await (await env.get('quitter')).text(), 'ok\n');
  t.true(logLines('quitter').includes('path: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'), logLines('quitter').join(' | '));
});

test.serial('PID 1 is tini and reaps an orphan that exits', async (t) => {
  t.is(await (await env.get('procenv')).text(), 'ok\n');
  await until(() => logLines('procenv').includes('orphan: exiting'), 10_000);
  // It exited: a reaping PID 1 removes it at once; a zombie would stay until the container ends.
  const zombies = await until(async () => ((await processTree('procenv')).some((p) => p.state === 'Z') ? null : 'none'), 2000).catch(
    async () => JSON.stringify(await processTree('procenv')),
  );
  t.is(zombies, 'none', 'no zombie in the container');
  const tree = await processTree('procenv');
  t.is(tree[0]!.comm, 'init', 'PID 1 is /dev/init (tini)');
  t.true(tree.length >= 3, `tini, the app and its server: ${JSON.stringify(tree)}`);
});

test.serial('a SIGTERM stop ends an app without a handler at once: status 143, no SIGKILL after the grace period', async (t) => {
  t.is(await (await env.get('procenv')).text(), 'ok\n');
  const started = Date.now();
  await app('procenv').stop();
  const tookMs = Date.now() - started;
  const lines = logLines('procenv');
  t.true(lines.includes('── stopped (status 143)'), `stopped by SIGTERM (143), not killed (137): ${lines.slice(-3).join(' | ')}`);
  t.true(tookMs < 1000, `stopped in ${tookMs} ms (the grace period is 3000 ms)`);
});

test.serial('the image’s stopSignal (SIGQUIT) is what a stop sends', async (t) => {
  t.is(await (await env.get('quitter')).text(), 'ok\n');
  await app('quitter').stop();
  const lines = logLines('quitter');
  t.true(lines.includes('stop signal: QUIT'), lines.join('\n'));
  t.false(lines.includes('stop signal: TERM'));
  t.true(lines.includes('── stopped (status 0)'), 'the trap exits 0 and tini passes the status on');
});
