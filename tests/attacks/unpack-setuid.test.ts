// Proves: setuid and setgid bits are stripped from files and directories unless the image config says
// allowSetuid: true; other mode bits (and the sticky bit) are kept.
import test from 'ava';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pullArchive } from '../support/attack.js';
import { makeTarGz } from '../support/make-tar.js';

const layer = () =>
  makeTarGz([
    { path: 'bin/su', body: '#!/bin/sh\n', mode: 0o4755 },
    { path: 'bin/wall', body: '#!/bin/sh\n', mode: 0o2755 },
    { path: 'var/mail', type: 'dir', mode: 0o2775 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
  ]);

test('strips setuid/setgid by default', async (t) => {
  const run = await pullArchive([layer()]);
  try {
    t.is(run.error, undefined);
    const mode = async (p: string) => (await stat(join(run.result!.rootfs, p))).mode & 0o7777;
    t.is(await mode('bin/su'), 0o755);
    t.is(await mode('bin/wall'), 0o755);
    t.is(await mode('var/mail'), 0o775);
    t.is(await mode('tmp'), 0o1777);
  } finally {
    await run.cleanup();
  }
});

test('keeps them when the image config allows setuid', async (t) => {
  const run = await pullArchive([layer()], { allowSetuid: true });
  try {
    t.is(run.error, undefined);
    t.is((await stat(join(run.result!.rootfs, 'bin/su'))).mode & 0o7777, 0o4755);
    t.is((await stat(join(run.result!.rootfs, 'var/mail'))).mode & 0o7777, 0o2775);
  } finally {
    await run.cleanup();
  }
});
