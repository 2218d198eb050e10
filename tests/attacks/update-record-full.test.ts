// Proves: a full disk under the agent's own state does not make an update hang. The folder of the update records is
// a 64 KiB tmpfs, filled to the last byte; then the channel names a version whose layer the registry lost. The
// download fails (NOT_FOUND) and recording that failure meets ENOSPC: the update still ends `failed` with the
// download's code, a step says the record could not be written (DATA_FULL), and the running version keeps serving.
// On the code before this, the record's ENOSPC escaped the updater and the update showed `downloading 0/0` forever.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentEnv, json, until } from '../support/agent.js';
import { updImage } from '../support/update.js';

test('recording a failed update on a full disk: the update still ends failed, and says why', async (t) => {
  let records = '';
  const env = await agentEnv({
    images: [await updImage('1.0.0', { name: 'rec', publicPort: 18491, handover: 'none' })],
    beforeStart: async (base) => {
      records = join(base, 'var', 'state', 'updates');
      await mkdir(records, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', records]);
    },
  });
  try {
    const steps: string[] = [];
    env.agent.onStep((app, message) => steps.push(`${app}: ${message}`));
    t.is(((await json(await env.get('rec'))) as { version: string }).version, '1.0.0');
    // Fill the records' file system to the last byte (as root: no blocks are held back).
    await writeFile(join(records, 'fill'), Buffer.alloc(64 * 1024)).catch(() => {});
    await writeFile(join(records, 'fill-2'), Buffer.alloc(4096)).catch(() => {});

    const dir = await updImage('2.0.0', { name: 'rec', publicPort: 18491, handover: 'none' });
    await writeFile(join(dir, 'v2.txt'), 'a layer of its own\n');
    const v2 = await env.registry.publish(dir);
    await env.registry.sign();
    await rm(join(env.registry.dir, 'blobs', 'sha256', v2.layers.at(-1)!.digest.slice('sha256:'.length)));

    const checked = env.agent.checkChannel();
    const app = () => env.agent.apps.get('rec')!.toJSON() as any;
    await until(() => app().update.state === 'failed', 10_000).catch(() => {});
    t.is(app().update.state, 'failed', JSON.stringify(app().update));
    t.is(app().update.error?.code, 'NOT_FOUND');
    t.true(steps.some((s) => /cannot record that 2\.0\.0 failed \(DATA_FULL/.test(s)), steps.join('\n'));
    await checked;
    t.is(((await json(await env.get('rec'))) as { version: string }).version, '1.0.0', 'the running version keeps serving');
  } finally {
    await env.agent.stop();
    if (records) execFileSync('umount', [records]);
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
  }
});
