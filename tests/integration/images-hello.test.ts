// images/hello: published with the real publisher, fetched by digest from a verified channel, run on the host.
import test from 'ava';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { publishAndUnpack, runApp } from '../support/image-app.js';

test('hello serves its page and answers the health check', async (t) => {
  const image = await publishAndUnpack('hello');
  t.teardown(() => Promise.all([image.registry.cleanup(), rm(dirname(image.rootfs), { recursive: true, force: true })]));
  t.is(image.config.name, 'hello');
  t.deepEqual(image.config.ports.map((p) => p.public), [8081]);

  const app = await runApp(image, { env: { BOOTOS_IMAGE_VERSION: '1.0.0' } });
  t.teardown(() => app.stop());
  const health = await fetch(`${app.url}/health`);
  t.is(health.status, 200);
  const page = await fetch(`${app.url}/`);
  t.is(page.status, 200);
  t.is(page.headers.get('x-app-version'), '1.0.0');
  t.regex(await page.text(), /<h1>Hello from bootos<\/h1>/);
  t.is(await app.stop(), 0, 'SIGTERM ends it cleanly');
});
