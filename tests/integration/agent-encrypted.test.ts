// A real agent (in this process) with runc: an image encrypted to the device's own identity (its X25519 key from
// /api/device, made at its first start) is pulled, decrypted inside the streaming pull and served; a later version
// encrypted to another device only is refused with IMAGE_NOT_RECIPIENT, nothing of it is unpacked, and the version
// the device has keeps serving.
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { agentEnv, json, until } from '../support/agent.js';
import { helloVersion } from '../support/e2e.js';
import { IMAGES } from '../support/registry.js';

const rawX25519 = () => Buffer.from(generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');

test('an image encrypted to this device runs on it; one encrypted to another device is refused and the old one serves', async (t) => {
  const env = await agentEnv({ images: [join(IMAGES, 'hello')] });
  const dirs: Array<{ cleanup(): Promise<void> }> = [];
  try {
    const id = (await json(await env.api('/api/device'))).identity;
    const v2 = await helloVersion('2.0.0');
    dirs.push(v2);
    await env.registry.publish(v2.dir, { encryptTo: [{ id: id.id, seal: Buffer.from(id.keys.seal, 'base64') }] });
    await env.registry.sign();
    await env.agent.checkChannel();
    const first = await env.get('hello');
    t.is(first.status, 200);
    t.is(first.headers.get('x-app-version'), '2.0.0', 'the encrypted version was pulled, decrypted and started');

    const v3 = await helloVersion('3.0.0');
    dirs.push(v3);
    await env.registry.publish(v3.dir, { encryptTo: [{ id: 'another-device', seal: rawX25519() }] });
    await env.registry.sign();
    await env.agent.checkChannel();
    const hello = env.agent.apps.get('hello')!;
    const apps = await until(async () => {
      const view = await json(await env.api('/api/apps'));
      const h = view.apps.find((a: { name: string }) => a.name === 'hello');
      return h.update.state === 'failed' ? h : null;
    });
    t.is(apps.update.error.code, 'IMAGE_NOT_RECIPIENT', JSON.stringify(apps.update));
    const after = await env.get('hello');
    t.is(after.headers.get('x-app-version'), '2.0.0', 'the version the device has keeps serving');
    t.is(hello.resolved.config.version, '2.0.0');
  } finally {
    const { leftovers } = await env.teardown();
    t.deepEqual(leftovers, []);
    for (const d of dirs) await d.cleanup();
  }
});
