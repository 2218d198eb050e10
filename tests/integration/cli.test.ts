// What this file proves: the publisher's round trip works from the CLI exactly as the README shows it,
// every verb has --help, usage errors exit 2 and failures exit 1 with a coded error.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { decodePublicKey, decodeSecretKey } from '../../fetcher/src/trust/keys.js';
import { CLI, runCli } from '../support/cli.js';
import { IMAGES, testDir } from '../support/registry.js';

test('key → root init → publish → channel sign → serve → verify', async (t) => {
  const dir = await testDir(t);
  const reg = join(dir, 'reg');
  const ok = async (args: string[]) => {
    const result = await runCli(args, { cwd: dir });
    t.is(result.code, 0, `bootos ${args.join(' ')}\n${result.stderr}`);
    return result.stdout.trim();
  };
  await ok(['key', 'generate', 'dev']);
  t.is((await stat(join(dir, 'dev.key'))).mode & 0o777, 0o600);
  const secret = decodeSecretKey(await readFile(join(dir, 'dev.key'), 'utf8'));
  t.deepEqual(secret.publicKey, decodePublicKey(await readFile(join(dir, 'dev.pub'), 'utf8')));
  await ok(['root', 'init', '--registry', reg, '--key', 'dev.pub', '--sign', 'dev.key']);
  const digest = await ok(['publish', join(IMAGES, 'hello'), '--registry', reg]);
  t.regex(digest, /^sha256:[0-9a-f]{64}$/);
  // profile office (images/profiles.yaml) names every sample image, so all of them are published before signing
  for (const image of ['calc', 'notes', 'python-web', 'nginx-static']) await ok(['publish', join(IMAGES, image), '--registry', reg]);
  t.is(await ok(['channel', 'sign', '--registry', reg, '--channel', 'stable', '--profiles', join(IMAGES, 'profiles.yaml'), '--sign', 'dev.key']), join(reg, 'channels', 'stable.json'));
  // a second signing bumps the version
  await ok(['channel', 'sign', '--registry', reg, '--channel', 'stable', '--profiles', join(IMAGES, 'profiles.yaml'), '--sign', 'dev.key']);

  const server = spawn(process.execPath, [CLI, 'serve', '--registry', reg, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void server.kill());
  const url = await new Promise<string>((resolve) => createInterface({ input: server.stdout }).once('line', resolve));
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  t.is(await ok(['verify', '--registry', url, '--root', join(reg, 'root.json'), '--channel', 'stable', '--state', join(dir, 'state')]), '2');
  const json = JSON.parse(await ok(['verify', '--registry', url, '--root', join(reg, 'root.json'), '--channel', 'stable', '--json']));
  t.is(json.images.hello.digest, digest);
  // The older spelling (the registry as the first argument) still works for a release, with a note saying the new one.
  const old = await runCli(['verify', url, '--root', join(reg, 'root.json'), '--channel', 'stable']);
  t.is(old.code, 0);
  t.is(old.stdout.trim(), '2');
  t.true(old.stderr.includes(`write --registry ${url}`), old.stderr);
  t.is((await runCli(['verify', '--root', join(reg, 'root.json'), '--channel', 'stable'])).code, 2, 'no registry at all is a usage error');
});

test('every verb has --help; usage errors exit 2; failures exit 1 with a code', async (t) => {
  const overview = await runCli(['--help']);
  t.is(overview.code, 0);
  const verbs = [...overview.stdout.matchAll(/^ {2}(\S+(?: [a-z]+)?)\s{2,}/gm)].map((m) => m[1]!.trim());
  t.true(verbs.length >= 7, overview.stdout);
  for (const verb of verbs) {
    const help = await runCli([...verb.split(' '), '--help']);
    t.is(help.code, 0, verb);
    t.regex(help.stdout, new RegExp(`usage: bootos ${verb}`), verb);
  }
  t.is((await runCli(['publish'])).code, 2);
  t.is((await runCli(['verify', 'x', '--bogus'])).code, 2);
  t.is((await runCli(['nonsense'])).code, 2);
  const missing = await runCli(['verify', '--registry', '/nonexistent', '--root', '/nonexistent/root.json', '--channel', 'stable']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /error FILE_NOT_FOUND:/);
});
