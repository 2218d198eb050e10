// `bootos demo`, the README's first command: --no-boot (the round trip without QEMU), then two boots in one work
// folder as a newcomer runs it. The first as a person does (key, publish, serve, build or reuse the x86_64 image, boot
// QEMU; "up" only once the agent lists the apps; write a note through the notes app's forwarded port; in Chromium,
// a browser without the printed link sees the read-only kiosk and is told to pair, the one that opens the link opens
// calc, computes, freezes, resumes and stops it; Ctrl-C powers off); the second as a script does (--exit-when-ready: the kiosk answers through hostfwd, poweroff). The note is on
// the work folder's data disk afterwards (in the notes app's /data volume). Nothing may be left running after either.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, runCli } from '../support/cli.js';
import { REPO, tempDir } from '../support/registry.js';
import { freePort } from '../../qemu/src/guest.js';
import { scaledTimeout } from '../../qemu/src/qemu.js';
import type { ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { launchChromium, screenshotPath } from '../support/browser.js';

test('bootos demo --no-boot publishes, signs, serves and verifies over HTTP', async (t) => {
  // The first publish of the Debian-package images downloads and compresses their layers (later ones reuse them).
  t.timeout(6 * 60_000);
  const r = await runCli(['demo', '--no-boot'], { timeoutMs: 5 * 60_000 });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^demo ok: channel stable version 1 verified over HTTP \(5 image\(s\) published\)$/m);
  t.regex(r.stderr, /5\/5 verify: hello 1\.0\.0/);
});

/** Waits until `text()` matches `pattern` (or the process has exited). */
async function waitFor(text: () => string, pattern: RegExp, timeoutMs: number, exited: () => boolean): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = text().match(pattern);
    if (m) return m;
    if (exited()) throw new Error(`the demo exited before ${pattern}:\n${text().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`${pattern} did not come within ${timeoutMs} ms:\n${text().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function nothingLeft(work: string): boolean {
  const ps = execFileSync('ps', ['-eo', 'args']).toString();
  return !ps.split('\n').some((l) => l.includes('qemu-system') && l.includes(join(work, 'serial.log')));
}

test('bootos demo twice in one work folder: a note written in the first (Ctrl-C) is kept on its data disk, the second runs --exit-when-ready', async (t) => {
  t.timeout(scaledTimeout(20 * 60_000));
  const work = await tempDir('bootos-demo-test-');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const apiPort = await freePort();
  const note = `kept across demos ${Date.now()}`;

  // Run 1, as a person runs it: wait for "up", use an app, Ctrl-C. Its notes port 8083 is taken on the host (here by
  // the test; when another program has it, the same holds): the demo moves it, and the guest opens notes there.
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.once('error', () => resolve()).listen(8083, '127.0.0.1', () => resolve()));
  t.teardown(() => void squatter.close());
  let started = Date.now();
  const child = spawn(process.execPath, [CLI, 'demo', '--work', work, '--api-port', String(apiPort)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let exited = false;
  void exit.then(() => (exited = true));
  const both = () => `${stdout}\n${stderr}`;
  const notesUrl = (await waitFor(() => stdout, /^apps: .*\bnotes (http:\/\/127\.0\.0\.1:\d+\/)/m, scaledTimeout(11 * 60_000), () => exited))[1]!;
  // The printed link pairs the person's browser (QEMU's network brings it from 10.0.2.2: not the device itself).
  const link = stdout.match(new RegExp(`^bootos is up: open the kiosk at (http://127\\.0\\.0\\.1:${apiPort}/\\?pair=\\d{8}) \\(the link pairs your browser, once\\)$`, 'm'))?.[1];
  t.truthy(link, stdout);
  // "up" means the agent lists every app of the profile, each on the port that the printed link (and the kiosk) uses.
  const listed = (await (await fetch(`http://127.0.0.1:${apiPort}/api/apps`)).json()) as { apps: Array<{ name: string; state: string; port: number }> };
  t.deepEqual(listed.apps.map((a) => a.name).sort(), ['calc', 'hello', 'nginx-static', 'notes', 'python-web']);
  t.is(listed.apps.find((a) => a.name === 'notes')!.port, Number(new URL(notesUrl).port), 'the kiosk links to the port the host reaches');
  t.not(new URL(notesUrl).port, '8083', 'moved off the taken port');
  t.regex(stderr, /ports: host port 8083 is taken: that app is on \d+/);
  t.regex(stderr, /guest \| bootos-agent: notes: port 8083 is opened at \d+ \(bootos\.port_map\)/);
  t.regex(stderr, /1\/6 key: generating a development signing key/);
  t.regex(stderr, /data: .*data\.img \(made now;/);
  t.regex(stderr, /guest \| bootos-init: data root \/dev\/vda/);
  t.notRegex(stderr, /\d\/5 /, 'one step total');
  // The first request to notes pulls and starts it (the connection is held meanwhile).
  const posted = await fetch(new URL('api/notes', notesUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: note }), signal: AbortSignal.timeout(scaledTimeout(300_000)) }).catch((err: unknown) => {
    throw new Error(`POST ${notesUrl}api/notes: ${(err as Error).name} ${(err as Error).message}\n${stderr.slice(-4000)}`, { cause: err });
  });
  t.is(posted.status, 201, await posted.clone().text());
  const read = (await (await fetch(new URL('api/notes', notesUrl), { signal: AbortSignal.timeout(scaledTimeout(60_000)) })).json()) as { notes: Array<{ text: string }> };
  t.true(read.notes.some((n) => n.text === note));
  await asAPerson(t, link!, apiPort);
  squatter.close();
  child.kill('SIGINT');
  t.is(await exit, 0, both().slice(-4000));
  t.regex(stderr, /the guest is off \(QEMU exit 0\)/);
  t.true(nothingLeft(work), 'QEMU of run 1 is gone');
  t.false((await readdir(work)).includes('demo.lock'), 'the work folder is free again');
  process.stdout.write(`PASSED e2e demo run 1: up, note written, Ctrl-C (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);

  // Run 2, as a script runs it, in the same work folder: same key and data disk.
  started = Date.now();
  const r = await runCli(['demo', '--exit-when-ready', '--work', work, '--api-port', String(apiPort)], { timeoutMs: scaledTimeout(11 * 60_000) });
  t.is(r.code, 0, `${r.stdout}\n${r.stderr.slice(-4000)}`);
  t.regex(r.stdout, new RegExp(`bootos is up: open the kiosk at http://127\\.0\\.0\\.1:${apiPort}/`));
  t.regex(r.stdout, /demo ok: the kiosk answers at http:\/\/127\.0\.0\.1:\d+\/; powering off/);
  t.regex(r.stderr, /1\/6 key: the development key .* \(made on the first run\)/);
  t.regex(r.stderr, /data: .*data\.img \(kept from the last run;/);
  t.regex(r.stderr, /guest \| bootos-agent: ready/);
  t.regex(r.stderr, /guest \| bootos-init: data root \/dev\/vda/);
  t.true((await readdir(work)).includes('dev.key'));
  // Everything it started is gone: no QEMU of this work folder, and the kiosk port is free again.
  t.true(nothingLeft(work), 'QEMU of run 2 is gone');
  t.is(await freePort(apiPort), apiPort, 'the kiosk port is free again');
  // The note is on the data disk, after a second boot that mounted it: in the notes app's own /data volume, an ext4
  // image in the data root (docs/formats.md, "An app's /data"), read out of the disk and then out of the volume.
  const volume = join(work, 'notes-volume.ext4');
  execFileSync('debugfs', ['-R', `dump /data/.volumes/notes.ext4 ${volume}`, join(work, 'data.img')], { stdio: 'ignore' });
  const onDisk = execFileSync('debugfs', ['-R', 'cat /notes.json', volume], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  await rm(volume, { force: true });
  t.true(onDisk.includes(note), onDisk.slice(0, 2000));
  process.stdout.write(`PASSED e2e demo run 2: --exit-when-ready, the note kept (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
});

/**
 * The kiosk through QEMU as a person uses it: a browser without the link gets the read-only view and the sentence
 * to pair; the browser that opened the printed link opens calc, computes, freezes and resumes it, stops it.
 */
async function asAPerson(t: ExecutionContext, link: string, apiPort: number): Promise<void> {
  const wait = scaledTimeout(120_000);
  const card = (page: Page, app: string) => page.locator(`li[data-app="${app}"]`);
  const state = (page: Page, app: string, want: string) =>
    page.waitForFunction(([name, s]) => document.querySelector(`li[data-app="${name}"]`)?.getAttribute('data-state') === s, [app, want] as const, { timeout: wait });

  const stranger = await launchChromium();
  try {
    const page = await stranger.context.newPage();
    page.setDefaultTimeout(wait);
    await page.goto(`http://127.0.0.1:${apiPort}/`);
    await page.locator('#pairing-banner').waitFor({ state: 'visible' });
    t.regex(await page.locator('#pairing-banner').innerText(), /can look but not change anything/);
    await card(page, 'notes').getByRole('button', { name: 'Stop', exact: true }).click();
    await card(page, 'notes').getByText("Pair this browser to stop apps: enter the code shown on the device's screen.").waitFor();
  } finally {
    await stranger.close();
  }

  const person = await launchChromium();
  try {
    const page = await person.context.newPage();
    page.setDefaultTimeout(wait);
    await page.goto(link);
    await page.locator('#pairing').getByText(/This browser is paired with the device until/).waitFor();
    t.false(page.url().includes('pair='), 'the used code is gone from the address bar');
    await card(page, 'calc').getByRole('link', { name: 'Open', exact: true }).click();
    await page.locator('#app-view').waitFor({ state: 'visible' });
    const app = page.frameLocator('#app-frame');
    await app.getByLabel('Expression').fill('2+3*4');
    await app.getByLabel('Expression').press('Enter');
    await app.locator('#result').filter({ hasText: '14' }).waitFor();
    await page.getByRole('link', { name: '← Kiosk' }).click();
    await state(page, 'calc', 'running');
    // Freeze needs an idle app: calc's page keeps its connections open for its server's 5 s keep-alive.
    await card(page, 'calc').locator('.detail').filter({ hasText: /^Idle/ }).waitFor();
    await card(page, 'calc').getByRole('button', { name: 'Freeze', exact: true }).click();
    await state(page, 'calc', 'frozen');
    await page.screenshot({ path: await screenshotPath('kiosk-demo-paired.png') });
    await card(page, 'calc').getByRole('button', { name: 'Resume', exact: true }).click();
    await state(page, 'calc', 'running');
    await card(page, 'calc').getByRole('button', { name: 'Stop', exact: true }).click();
    await state(page, 'calc', 'stopped');
    t.pass('opened, computed, froze, resumed and stopped calc through the demo');
  } finally {
    await person.close();
  }
}
