// Proves: a channel that names a version the device cannot pull does not stop an app that has a version cached.
// The app ran 1.0.0; while the agent was down the channel moved to 2.0.0, whose blobs the registry then lost (its
// layer in one case, every blob of it in the other). After the restart the app starts on its cached 1.0.0 at the
// first connection, says so (its update `failed` with the pull's code, `runningCached: 1.0.0`, a step naming the
// cached version); the next channel check does not take it down either.
// On the code before this, the restarted app insisted on pulling 2.0.0 and did not start at all.
import test from 'ava';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from '../../bootos/src/agent/agent.js';
import { agentEnv, json, leftoversOf } from '../support/agent.js';
import { updImage } from '../support/update.js';

async function image(version: string, port: number): Promise<string> {
  const dir = await updImage(version, { name: 'keep', publicPort: port, handover: 'none' });
  await writeFile(join(dir, 'version.txt'), `${version}\n`); // a layer of its own (not already in the store)
  return dir;
}

for (const lost of ['its layer', 'every blob'] as const) {
  test.serial(`the channel's new version lost ${lost}: after a restart the app starts on its cached version`, async (t) => {
    const port = lost === 'its layer' ? 18481 : 18482;
    const env = await agentEnv({ images: [await image('1.0.0', port)] });
    let agent: Agent | null = null;
    try {
      t.is(((await json(await env.get('keep'))) as { version: string }).version, '1.0.0');
      const config = env.agent.config;
      await env.agent.stop();

      const v2 = await env.registry.publish(await image('2.0.0', port));
      await env.registry.sign();
      const blob = (digest: string) => join(env.registry.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
      const own = v2.layers.at(-1)!.digest;
      const gone = lost === 'its layer' ? [own] : [v2.digest, ...v2.platforms.flatMap((p) => [p.manifest.digest, ...p.layers.map((l) => l.digest)])];
      for (const digest of gone) await rm(blob(digest), { force: true });
      t.not(await readFile(blob(v2.layers[0]!.digest)).catch(() => null), undefined);

      const steps: string[] = [];
      agent = await Agent.start(config, () => {});
      agent.onStep((app, message) => steps.push(`${app}: ${message}`));
      await agent.settled();
      const keep = agent.apps.get('keep');
      t.truthy(keep, `the app was added (${steps.join(' | ')})`);
      const answer = await fetch(`http://127.0.0.1:${keep!.publicPorts.get('http') ?? [...keep!.publicPorts.values()][0]}/`, { headers: { connection: 'close' } });
      t.is(answer.status, 200, JSON.stringify(keep!.toJSON().error));
      t.is(((await answer.json()) as { version: string }).version, '1.0.0', 'the cached version serves');
      const shown = keep!.toJSON() as any;
      t.is(shown.version, '1.0.0');
      t.is(shown.state, 'running');
      t.is(shown.update.state, 'failed');
      t.is(shown.update.runningCached, '1.0.0');
      t.is(shown.update.error.version, '2.0.0');
      t.regex(shown.update.error.code, /^[A-Z_]+$/);
      t.true(steps.some((s) => /cached 1\.0\.0/.test(s)), steps.join('\n'));

      // The next channel check offers 2.0.0 again; it fails as before and the cached version keeps serving.
      await agent.checkChannel();
      t.is(((await json(await fetch(`http://127.0.0.1:${[...keep!.publicPorts.values()][0]}/`, { headers: { connection: 'close' } }))) as { version: string }).version, '1.0.0');
      t.is((keep!.toJSON() as any).update.state, 'failed');
    } finally {
      if (agent) {
        await agent.stop();
        t.deepEqual(await leftoversOf(agent), []);
      }
      const { leftovers } = await env.teardown();
      t.deepEqual(leftovers, []);
    }
  });
}
