// Proves the seccomp and /proc rules decided beyond the thirteen breaks, from inside a real app under runc (Debian's
// python3, raw system calls through ctypes): io_uring_setup fails with ENOSYS (it was allowed: io_uring runs
// operations that seccomp never sees, and has been a steady source of kernel exploits); personality(2) answers a
// query but refuses ADDR_NO_RANDOMIZE (an app could turn off ASLR for what it executes); /proc/kallsyms reads empty
// (it was readable, addresses zeroed). On the host's kernel, as root, with the real agent.
import test from 'ava';
import { copyFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { agentEnv, json } from '../support/agent.js';
import { IMAGES, makeImageDir, REPO } from '../support/registry.js';

test('an app gets ENOSYS from io_uring_setup, EPERM for personality(ADDR_NO_RANDOMIZE), an empty /proc/kallsyms', async (t) => {
  const image = await makeImageDir(
    { 'server.py': await readFile(join(REPO, 'tests', 'fixtures', 'agent', 'sysprobe', 'server.py'), 'utf8') },
    ['name: sysprobe', 'version: 1.0.0', 'runtime: none', 'architecture: amd64', 'entrypoint: [/usr/bin/python3, /app/server.py]', 'env:', '  PYTHONDONTWRITEBYTECODE: "1"', 'ports:', '  - port: 8080', '    public: 18240', 'resources:', '  memory: 64Mi', 'debian: [python3]', ''].join('\n'),
  );
  // The same pins as images/python-web (whose packages the layer cache already holds).
  await copyFile(join(IMAGES, 'python-web', 'image.lock.json'), join(image, 'image.lock.json'));
  const env = await agentEnv({ images: [image] });
  try {
    const probe = await json(await env.get('sysprobe', '/probe'));
    t.log(JSON.stringify(probe));
    t.is(probe.io_uring_setup, 'ENOSYS', 'io_uring is not there for apps');
    t.is(probe.personality_query, 'ok', 'personality(0xffffffff) still answers');
    t.is(probe.personality_no_aslr, 'EPERM', 'ASLR cannot be turned off');
    t.is(probe.kallsyms_bytes, 0, '/proc/kallsyms is masked');
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    await rm(image, { recursive: true, force: true });
  }
});
