// `bootos demo`, the README's first command, run as a script would: --no-boot (the round trip without QEMU) and the
// full demo with --exit-when-ready (key, publish, serve, build or reuse the x86_64 image, boot QEMU, the kiosk answers
// through hostfwd, poweroff), in a work folder of its own. Nothing may be left running afterwards.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/registry.js';
import { freePort } from '../../qemu/src/guest.js';

test('bootos demo --no-boot publishes, signs, serves and verifies over HTTP', async (t) => {
  // The first publish of the Debian-package images downloads and compresses their layers (later ones reuse them).
  t.timeout(6 * 60_000);
  const r = await runCli(['demo', '--no-boot'], { timeoutMs: 5 * 60_000 });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^demo ok: channel stable version 1 verified over HTTP \(5 image\(s\) published\)$/m);
  t.regex(r.stderr, /5\/5 verify: hello 1\.0\.0/);
});

test('bootos demo --exit-when-ready boots x86_64 in QEMU, the kiosk answers through hostfwd, then it powers off', async (t) => {
  t.timeout(12 * 60_000);
  const started = Date.now();
  const work = await tempDir('bootos-demo-test-');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const apiPort = await freePort();
  const r = await runCli(['demo', '--exit-when-ready', '--work', work, '--api-port', String(apiPort)], { timeoutMs: 11 * 60_000 });
  t.is(r.code, 0, `${r.stdout}\n${r.stderr.slice(-4000)}`);
  t.regex(r.stdout, new RegExp(`bootos is up: open the kiosk at http://127\\.0\\.0\\.1:${apiPort}/`));
  t.regex(r.stdout, /demo ok: the kiosk answers at http:\/\/127\.0\.0\.1:\d+\/; powering off/);
  t.regex(r.stderr, /1\/6 key: generating a development signing key/);
  t.regex(r.stderr, /guest \| bootos-agent: ready/);
  t.true((await readdir(work)).includes('dev.key'));
  // Everything it started is gone: no QEMU of this work folder, and the kiosk port is free again.
  const ps = execFileSync('ps', ['-eo', 'args']).toString();
  t.false(ps.split('\n').some((l) => l.includes('qemu-system') && l.includes(join(work, 'serial.log'))), 'QEMU is gone');
  t.is(await freePort(apiPort), apiPort, 'the kiosk port is free again');
  process.stdout.write(`PASSED e2e demo --exit-when-ready (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
});
