// What this file proves: `bootos os publish` and `bootos channel sign --os/--no-os` from the CLI as docs/os-updates.md
// shows them: one release for two architectures from out/, the channel's os entry, usage errors exit 2 and failures
// exit 1 with a coded error, and the same build published again under its version gives the same digest.
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { IMAGES, testDir } from '../support/registry.js';
import { fakeBuild } from '../support/os-release.js';

test('os publish out/ (two architectures) → channel sign pins it; --os, --no-os; errors are coded', async (t) => {
  const dir = await testDir(t);
  const reg = join(dir, 'reg');
  const run = (args: string[]) => runCli(args, { cwd: dir });
  const ok = async (args: string[]) => {
    const result = await run(args);
    t.is(result.code, 0, `bootos ${args.join(' ')}\n${result.stderr}`);
    return result;
  };
  await ok(['key', 'generate', 'dev']);
  await ok(['root', 'init', '--registry', reg, '--key', 'dev.pub', '--sign', 'dev.key']);
  await ok(['publish', join(IMAGES, 'hello'), '--registry', reg]);
  await writeFile(join(dir, 'profiles.yaml'), 'profiles:\n  office: [hello]\n');
  const out = join(dir, 'out');
  await fakeBuild(out, 'x86_64');
  await fakeBuild(out, 'aarch64');

  const first = await ok(['os', 'publish', out, '--version', '1.2', '--registry', reg, '--json']);
  const release = JSON.parse(first.stdout) as { version: string; digest: string; images: Record<string, { digest: string }> };
  t.is(release.version, '1.2');
  t.deepEqual(Object.keys(release.images).sort(), ['amd64', 'arm64']);
  t.regex(first.stderr, /os 1\.2 arm64: manifest sha256:/);
  // The same build again under the same version: the same release.
  t.is((await ok(['os', 'publish', out, '--version', '1.2', '--registry', reg])).stdout.trim(), release.digest);
  // Other bytes under a published version: refused.
  await fakeBuild(join(dir, 'other'), 'x86_64');
  const twice = await run(['os', 'publish', join(dir, 'other', 'x86_64'), '--version', '1.2', '--registry', reg]);
  t.is(twice.code, 2);
  t.regex(twice.stderr, /error USAGE: OS release 1\.2 is already published/);

  const sign = (extra: string[]) => ok(['channel', 'sign', '--registry', reg, '--channel', 'stable', '--profiles', 'profiles.yaml', '--sign', 'dev.key', '--json', ...extra]);
  const pinned = JSON.parse((await sign([])).stdout);
  t.deepEqual(pinned.signed.os, { version: '1.2', images: { amd64: { digest: release.images.amd64!.digest, size: pinned.signed.os.images.amd64.size }, arm64: { digest: release.images.arm64!.digest, size: pinned.signed.os.images.arm64.size } } });
  t.false('os' in JSON.parse((await sign(['--no-os'])).stdout).signed);
  t.is(JSON.parse((await sign(['--os', '1.2'])).stdout).signed.os.version, '1.2');
  const missing = await run(['channel', 'sign', '--registry', reg, '--channel', 'stable', '--profiles', 'profiles.yaml', '--sign', 'dev.key', '--os', '9']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /OS release 9 is not published .*published: 1\.2/);
  const both = await run(['channel', 'sign', '--registry', reg, '--channel', 'stable', '--profiles', 'profiles.yaml', '--sign', 'dev.key', '--os', '1.2', '--no-os']);
  t.is(both.code, 2);

  // Usage errors exit 2, failures 1, each with its code.
  const noVersion = await run(['os', 'publish', out, '--registry', reg]);
  t.is(noVersion.code, 2);
  t.regex(noVersion.stderr, /error USAGE: --version is required/);
  const badVersion = await run(['os', 'publish', out, '--version', 'v2', '--registry', reg]);
  t.is(badVersion.code, 2);
  t.regex(badVersion.stderr, /error USAGE: --version: an OS version is numbers separated by dots/);
  const notBuild = await run(['os', 'publish', dir, '--version', '3', '--registry', reg]);
  t.is(notBuild.code, 1);
  t.regex(notBuild.stderr, /error FILE_NOT_FOUND: .*not a build output/);
  const help = await run(['os', 'publish', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /usage: bootos os publish BUILD_DIR\.\.\. --version V --registry DIR/);
  // `bootos os` alone lists the group's verbs.
  const group = await run(['os']);
  t.regex(group.stderr, /bootos os publish/);
  t.truthy(await readFile(join(reg, 'index.json'), 'utf8').then((text) => /bootos-os-1\.2/.test(text)));
});
