// Proves: a failure of the device's own that has no code of its own is reported as AGENT_ERROR with the system's
// words, not labelled NETWORK (which tells the person to check the network and counts as the registry's fault).
// Here the trust state folder is a read-only filesystem, so the verified channel cannot be recorded: before the fix
// the channel showed "NETWORK: EROFS: read-only file system".
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { agentEnv, json, until } from '../support/agent.js';
import { IMAGES } from '../support/registry.js';

const run = promisify(execFile);

test('a read-only trust state folder: the channel shows AGENT_ERROR (EROFS), not NETWORK', async (t) => {
  let state = '';
  const env = await agentEnv({
    images: [join(IMAGES, 'hello')],
    beforeStart: async (base) => {
      state = join(base, 'var', 'state');
      await mkdir(state, { recursive: true });
      // What the agent makes at start is there; then the filesystem goes read-only.
      await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', state]);
      await mkdir(join(state, 'updates'));
      await run('mount', ['-o', 'remount,ro', state]);
    },
  });
  try {
    await until(async () => (await json(await env.api('/api/apps'))).channel.error !== null, 15_000);
    const { channel } = await json(await env.api('/api/apps'));
    t.is(channel.error.code, 'AGENT_ERROR', JSON.stringify(channel));
    t.regex(channel.error.message, /EROFS|read-only file system/);
  } finally {
    await env.agent.stop();
    await run('umount', [state]).catch(() => {});
    await env.teardown();
  }
});
