// `bootos demo`: the README's first command. Until the OS boots (issue 7), it runs the publisher's whole round trip
// on the sample images: key → root init → publish → channel sign → serve → verify over HTTP, and says what it did.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defineCommand, status } from '../../fetcher/src/cli-kit.js';
import { loadProfiles } from '../../fetcher/src/profiles.js';
import { writeKeyPair } from '../../fetcher/src/keys.js';
import { publishImage } from '../../fetcher/src/publish.js';
import { resolveImage } from '../../fetcher/src/resolve.js';
import { startServer } from '../../fetcher/src/serve.js';
import { initRoot, signChannel } from '../../fetcher/src/signer.js';
import { HttpSource } from '../../fetcher/src/source.js';
import { Trust } from '../../fetcher/src/trust.js';
import { readFile } from 'node:fs/promises';

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'publish the sample images, serve them, and verify them as a device would',
  usage: '[--images DIR] [--keep]',
  options: { images: { type: 'string' }, keep: { type: 'boolean' } },
  help: { images: 'folder of image folders and profiles.yaml (default: ./images)', keep: 'keep the work directory' },
  async run(values) {
    const imagesDir = resolve(values.images ?? 'images');
    const work = await mkdtemp(join(tmpdir(), 'bootos-demo-'));
    const registry = join(work, 'registry');
    try {
      status(`1/6 key: generating a development signing key in ${work}`);
      const key = await writeKeyPair(join(work, 'dev'));
      status(`2/6 root: signing root.json (1 key, threshold 1)`);
      await initRoot({ registry, keys: [key.publicKey], threshold: 1, signers: [key], expiresMs: 365 * 86_400_000 });
      const names = [];
      for (const entry of (await readdir(imagesDir)).sort()) {
        if (!(await stat(join(imagesDir, entry, 'image.yaml')).catch(() => null))) continue;
        const result = await publishImage(join(imagesDir, entry), registry);
        status(`3/6 publish: ${result.name} ${result.version} → ${result.digest}`);
        names.push(result.name);
      }
      const channel = await signChannel({
        registry,
        name: 'stable',
        profiles: await loadProfiles(join(imagesDir, 'profiles.yaml')),
        signers: [key],
        expiresMs: 7 * 86_400_000,
      });
      status(`4/6 channel: stable version ${channel.signed.version} pins ${Object.keys(channel.signed.images).join(', ')}`);
      const server = await startServer({ dir: registry, log: () => {} });
      try {
        status(`5/6 serve: registry at ${server.url}`);
        const source = new HttpSource(server.url);
        const trust = await Trust.open({ initialRoot: await readFile(join(registry, 'root.json')), stateDir: join(work, 'device-state') });
        const verified = await trust.fetchChannel(source, 'stable');
        for (const name of Object.keys(verified.signed.images)) {
          const image = await resolveImage(source, verified.signed, name);
          status(`6/6 verify: ${name} ${image.config.version}: signature, digests and sizes check out`);
        }
        console.log(`demo ok: channel stable version ${verified.signed.version} verified over HTTP (${names.length} image(s) published)`);
      } finally {
        await server.close();
      }
    } finally {
      if (values.keep) status(`kept ${work}`);
      else await rm(work, { recursive: true, force: true });
    }
  },
});
