// The hardening attacks that depend on the device itself, run inside one booted x86_64 guest (Debian's 6.1 kernel,
// pure cgroup v2, the tmpfs data root of a direct boot, the agent's open-files limit as /init's agent-run sets it):
// - a layer of absolute symlinks into the device's own directories gets its mount points inside the image root (0);
// - 64 MiB of output without a newline leaves the agent small and answering (3);
// - an app that fills its /data meets the end of its own volume, and another app's first download still succeeds (5);
// - 3000 half-open requests to three app ports, from three apps of the device itself (three client addresses), leave
//   the API answering and the apps serving again once they go (6). They come from inside the guest because QEMU's
//   user-mode network accepts forwarded connections one at a time (a listen backlog of 1): about 1.5 a second here.
// The host-side tests in tests/attacks/ prove each rule in detail; these prove that they hold on the device. One boot
// serves every case (they touch different apps); each case reads the guest only through its API and app ports.
import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CUT_MARK, MAX_LINE_CHARS } from '../../bootos/src/agent/app/logs.js';
import { Guest } from '../../qemu/src/guest.js';
import { E2eRegistry, e2eImage, E2E_START_TIMEOUT_ARG, getOnce, HELLO_PORT, passed, waitForApps } from '../support/e2e.js';
import { makeTarGz } from '../support/make-tar.js';
import { publishRawImage } from '../support/raw-image.js';
import { makeImageDir } from '../support/registry.js';
import { FLOOD_SERVER } from '../support/attack-apps.js';

/** Guest-side data directory of an app on the direct boot's data root (config.ts: <dataRoot>/data/<app>). */
const GUEST_DATA = '/var/lib/bootos/data';

const PORTS = { witness: 18191, evil: 18190, flood: 18195, filler: 18196, tiny: [18201, 18202, 18203], attackers: [18211, 18212, 18213] } as const;

/** Lists its /data recursively: the witness of what the agent may have created in another app's name. */
const WITNESS = `
const fs = require('node:fs');
require('node:http').createServer((q, s) => {
  const list = fs.readdirSync('/data', { recursive: true }).map(String).filter((p) => !p.startsWith('lost+found')).sort();
  s.end(JSON.stringify(list));
}).listen(8080);
`;

const SERVER = `require('node:http').createServer((q, s) => s.end('ok')).listen(8080);\n`;

/**
 * Opens `n` half-open requests to each of `ports` at the device's side of its veth (where the app ports listen too)
 * and holds them until /release; /attack answers how many it opened and how many the device kept open.
 */
const ATTACKER = `
const net = require('node:net');
// The app's own address on its veth (a /30): the device's side is the first address of it.
const mine = Object.values(require('node:os').networkInterfaces()).flat().find((a) => a.family === 'IPv4' && !a.internal).address.split('.').map(Number);
const gateway = [...mine.slice(0, 3), (mine[3] & ~3) | 1].join('.');
const held = [];
const open = (port) => new Promise((resolve) => {
  const s = net.connect({ host: gateway, port });
  s.on('error', () => {});
  s.once('connect', () => { s.write('GET / HTTP/1.1\\r\\nHost: device\\r\\nX-Slow: '); held.push(s); resolve(); });
  s.once('close', () => resolve());
});
require('node:http').createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/attack') {
    const ports = url.searchParams.get('ports').split(',').map(Number);
    const n = Number(url.searchParams.get('n'));
    for (let i = 0; i < n; i++) await Promise.all(ports.map(open));
    // The device closes what is over its caps at once; wait until the count has held for 3 s (at most 60 s).
    let last = -1;
    for (let still = 0, waited = 0; still < 6 && waited < 120; waited++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = held.filter((s) => !s.destroyed).length;
      still = now === last ? still + 1 : 0;
      last = now;
    }
    return res.end(JSON.stringify({ gateway, opened: held.length, open: held.filter((s) => !s.destroyed).length }));
  }
  if (url.pathname === '/release') { for (const s of held.splice(0)) s.destroy(); return res.end('released'); }
  res.end('ok');
}).listen(8080);
`;

/** Writes 1 MiB files into /data until a write fails; answers how far it got and why it stopped. */
const FILLER = `
const fs = require('node:fs');
require('node:http').createServer((req, res) => {
  if (req.url !== '/fill') return res.end('ok');
  const chunk = Buffer.alloc(1 << 20, 7);
  let bytes = 0;
  let code = null;
  for (let i = 0; i < 4096 && !code; i++) {
    try {
      fs.writeFileSync('/data/fill-' + i, chunk);
      bytes += chunk.length;
    } catch (err) {
      code = err.code;
    }
  }
  res.end(JSON.stringify({ bytes, code }));
}).listen(8080);
`;

function nodeImage(name: string, port: number, source: string, extra: string[] = []): Promise<string> {
  return makeImageDir(
    { 'server.js': source },
    [`name: ${name}`, 'version: 1.0.0', 'runtime: node', 'entrypoint: [node, /app/server.js]', 'ports:', '  - port: 8080', `    public: ${port}`, 'idle:', '  after: 3600', '  action: stop', 'files:', '  - from: server.js', '    to: /app/server.js', ...extra, ''].join('\n'),
  );
}

let guest: Guest;
let registry: E2eRegistry;
const cleanups: Array<() => Promise<unknown>> = [];

test.before(async (t) => {
  t.timeout(20 * 60_000);
  const image = await e2eImage('x86_64', (l) => t.log(l));
  registry = await E2eRegistry.create(['hello']);
  cleanups.push(() => registry.close());
  const dirs = [
    await nodeImage('witness', PORTS.witness, WITNESS, ['data: /data', 'resources:', '  memory: 64Mi']),
    await nodeImage('flood', PORTS.flood, FLOOD_SERVER, ['resources:', '  memory: 128Mi']),
    await nodeImage('filler', PORTS.filler, FILLER, ['data: /data', 'resources:', '  memory: 64Mi', '  data: 16Mi']),
    ...(await Promise.all(PORTS.tiny.map((port, i) => nodeImage(`tiny${i + 1}`, port, SERVER, ['resources:', '  memory: 64Mi'])))),
    ...(await Promise.all(PORTS.attackers.map((port, i) => nodeImage(`attacker${i + 1}`, port, ATTACKER, ['resources:', '  memory: 64Mi'])))),
  ];
  for (const dir of dirs) {
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await registry.publish(dir);
  }
  // The evil image: absolute links to the witness's data directory on the device, and nothing else of a system.
  const layer = makeTarGz([
    ...['lib64', 'lib', 'usr', 'data'].map((name) => ({ path: name, type: 'symlink', linkname: join(GUEST_DATA, 'witness', name) })),
    { path: 'app', type: 'dir', mode: 0o755 },
    { path: 'app/server.js', body: SERVER, mode: 0o644 },
    { path: 'tmp', type: 'dir', mode: 0o755 },
    ...['proc', 'dev', 'sys'].map((name) => ({ path: name, type: 'dir', mode: 0o755 })),
  ]);
  await publishRawImage(registry.dir, 'evil', [layer], {
    spec: { runtime: 'node', entrypoint: ['node', '/app/server.js'], ports: [{ port: 8080, public: PORTS.evil }], data: true },
  });
  await registry.sign({ office: ['witness', 'evil', 'flood', 'filler', 'hello', 'tiny1', 'tiny2', 'tiny3', 'attacker1', 'attacker2', 'attacker3'] });
  await registry.start();
  guest = await Guest.boot(
    {
      arch: 'x86_64',
      mode: 'direct',
      imageDir: image.dir,
      registry: registry.url,
      cmdline: [E2E_START_TIMEOUT_ARG],
      forward: [PORTS.witness, PORTS.evil, PORTS.flood, PORTS.filler, HELLO_PORT, ...PORTS.tiny, ...PORTS.attackers].map((guestPort) => ({ guestPort })),
    },
    (l) => t.log(l),
  );
  cleanups.push(() => guest.close());
  await guest.ready();
  await waitForApps(guest, 'the channel verified with the eleven apps', (v) => v.channel.state === 'ok' && v.apps.length === 11, 120_000);
});

test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

test.serial('0: an image of absolute symlinks into the device gets its mount points inside its root, and runs', async (t) => {
  t.timeout(6 * 60_000);
  const started = Date.now();
  const before = await getOnce(guest.url(PORTS.witness, '/'), 180_000);
  t.is(before.status, 200);
  t.deepEqual(JSON.parse(before.body), [], 'the witness starts with an empty /data');
  const evil = await getOnce(guest.url(PORTS.evil, '/'), 180_000);
  t.is(evil.status, 200, 'the evil app started: its binds landed inside its own root');
  t.is(evil.body, 'ok');
  const after = await getOnce(guest.url(PORTS.witness, '/'), 30_000);
  t.deepEqual(JSON.parse(after.body), [], `nothing was created where the links point (${GUEST_DATA}/witness)`);
  passed('e2e x86_64 attack 0: mount points stay in the root', (Date.now() - started) / 1000);
});

test.serial('3: 64 MiB of output without a newline: the agent stays small, its API and other apps answer', async (t) => {
  t.timeout(6 * 60_000);
  const started = Date.now();
  t.is((await getOnce(guest.url(PORTS.flood, '/'), 180_000)).status, 200);
  t.is((await getOnce(guest.url(PORTS.tiny[0], '/'), 180_000)).status, 200);
  const memory = async () => (await guest.api<{ memory: { availableBytes: number } }>('/api/device')).memory.availableBytes;
  const before = await memory();
  const flood = getOnce(guest.url(PORTS.flood, '/flood'), 300_000);
  let least = before;
  for (let i = 0; i < 5; i++) {
    const health = await getOnce(new URL('/api/health', guest.apiUrl).href, 60_000);
    t.is(health.status, 200, 'the API answers during the flood');
    t.is((await getOnce(guest.url(PORTS.tiny[0], '/'), 60_000)).status, 200, 'another app answers during the flood');
    least = Math.min(least, await memory());
  }
  const done = await flood;
  t.is(done.body, 'flooded');
  least = Math.min(least, await memory());
  const dropMiB = (before - least) / 1048576;
  t.log(`MemAvailable dropped by ${dropMiB.toFixed(1)} MiB at most during the flood`);
  t.true(dropMiB < 64, `the device lost ${dropMiB.toFixed(1)} MiB of available memory to 64 MiB of output`);
  const { lines } = await guest.api<{ lines: string[] }>('/api/apps/flood/logs');
  const cut = lines.find((l) => l.endsWith(CUT_MARK));
  t.truthy(cut, 'the over-long line is kept cut and marked');
  t.is(cut!.length, MAX_LINE_CHARS + CUT_MARK.length);
  t.true(lines.includes('flood done'), 'the next ordinary line is logged');
  passed('e2e x86_64 attack 3: output without newlines', (Date.now() - started) / 1000);
});

test.serial('5: an app that fills its /data stops at its own volume; another app\'s first download still succeeds', async (t) => {
  t.timeout(6 * 60_000);
  const started = Date.now();
  const fill = await getOnce(guest.url(PORTS.filler, '/fill'), 180_000);
  t.is(fill.status, 200, fill.body);
  const { bytes, code } = JSON.parse(fill.body) as { bytes: number; code: string | null };
  t.log(`the filler wrote ${(bytes / 1048576).toFixed(0)} MiB into its 16 MiB /data, then ${code}`);
  t.is(code, 'ENOSPC', 'its own write fails');
  t.true(bytes <= 16 * 1048576, 'no more than its volume');
  // hello has not run yet: its image is pulled and unpacked into the data root now.
  const hello = await getOnce(guest.url(HELLO_PORT, '/'), 180_000);
  t.is(hello.status, 200, hello.body);
  const { apps } = await guest.api<{ apps: Array<{ name: string; state: string }> }>('/api/apps');
  t.like(apps.find((a) => a.name === 'filler'), { state: 'running' });
  passed('e2e x86_64 attack 5: a full /data', (Date.now() - started) / 1000);
});

test.serial('6: 3000 half-open requests from three apps to three app ports: the API answers; the apps serve again once they go', async (t) => {
  t.timeout(10 * 60_000);
  const started = Date.now();
  const limit = /bootos-init: agent open files (\d+)/.exec(await guest.vm.log());
  t.truthy(limit, 'agent-run reports the agent\'s open-files limit');
  t.true(Number(limit![1]) >= 16384, `the agent may open ${limit![1]} files`);
  for (const port of [...PORTS.tiny, ...PORTS.attackers]) {
    const up = await getOnce(guest.url(port, '/'), 180_000);
    t.is(up.status, 200, up.body);
  }
  try {
    // 330 per port and attacker: 2970 in all, each attacker under its own 1024 open files.
    const attacks = await Promise.all(PORTS.attackers.map((port) => getOnce(guest.url(port, `/attack?ports=${PORTS.tiny.join(',')}&n=330`), 300_000)));
    const results = attacks.map((a) => JSON.parse(a.body) as { gateway: string; opened: number; open: number });
    t.log(`attackers: ${results.map((r) => `${r.opened} connected, ${r.open} kept (via ${r.gateway})`).join('; ')}`);
    const kept = results.reduce((n, r) => n + r.open, 0);
    t.true(results.reduce((n, r) => n + r.opened, 0) >= 2900, 'the attack reached the app ports');
    t.true(kept <= 2048, `the device keeps ${kept} of them (proxyMaxConnections: 2048)`);
    for (let i = 0; i < 3; i++) {
      const health = await getOnce(new URL('/api/health', guest.apiUrl).href, 30_000);
      t.is(health.status, 200, 'the API answers while the app ports are flooded');
    }
    const apps = await guest.api<{ apps: Array<{ name: string; state: string }> }>('/api/apps');
    t.true(apps.apps.filter((a) => a.name.startsWith('tiny')).every((a) => a.state === 'running'), 'the apps still run');
  } finally {
    for (const port of PORTS.attackers) await getOnce(guest.url(port, '/release'), 60_000).catch(() => {});
  }
  for (const port of PORTS.tiny) t.is((await getOnce(guest.url(port, '/'), 60_000)).status, 200, 'served again once the attackers let go');
  passed('e2e x86_64 attack 6: half-open requests', (Date.now() - started) / 1000);
});

test.serial('the guest powers off cleanly after the attacks', async (t) => {
  t.timeout(3 * 60_000);
  t.is(await guest.powerdown(), 0);
  t.notRegex(await guest.vm.log(), /Kernel panic|Attempted to kill init/);
});
