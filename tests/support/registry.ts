// Builds a really signed registry with fresh keys (like tuf-js's repo-mock): every test signs and verifies for real.
import { mkdtemp, readFile, rm, writeFile, mkdir, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, type SecretKey } from '../../fetcher/src/trust/keys.js';
import { publishImage, type PublishOptions, type PublishResult } from '../../fetcher/src/publish/publish.js';
import { initRoot, signChannel } from '../../fetcher/src/publish/signer.js';
import type { Profiles } from '../../fetcher/src/formats/profiles.js';
import type { Channel } from '../../fetcher/src/formats/trust-docs.js';

export const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const IMAGES = join(REPO, 'images');

export interface TestRegistry {
  dir: string;
  key: SecretKey;
  rootBytes: Buffer;
  images: Map<string, PublishResult>;
  /** Re-signs the channel (version + 1) with the newest published images. */
  sign(profiles?: Profiles, options?: { expiresMs?: number; signers?: SecretKey[] }): Promise<Channel>;
  publish(imageDir: string, options?: PublishOptions): Promise<PublishResult>;
  cleanup(): Promise<void>;
}

export async function tempDir(prefix = 'bootos-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A registry with a fresh key, a root, the given images published and channel `stable` signed (when there are any). */
export async function makeRegistry(
  options: { images?: string[]; profiles?: Profiles; channel?: string } = {},
): Promise<TestRegistry> {
  const base = await tempDir('bootos-registry-');
  const dir = join(base, 'registry');
  const key = generateKey();
  await initRoot({ registry: dir, keys: [key.publicKey], threshold: 1, signers: [key], expiresMs: 30 * 86_400_000 });
  const images = new Map<string, PublishResult>();
  const channelName = options.channel ?? 'stable';
  const registry: TestRegistry = {
    dir,
    key,
    rootBytes: await readFile(join(dir, 'root.json')),
    images,
    async publish(imageDir, publishOptions) {
      const result = await publishImage(imageDir, dir, publishOptions);
      images.set(result.name, result);
      return result;
    },
    async sign(profiles, signOptions = {}) {
      return signChannel({
        registry: dir,
        name: channelName,
        profiles: profiles ?? options.profiles ?? { office: [...images.keys()] },
        signers: signOptions.signers ?? [key],
        expiresMs: signOptions.expiresMs ?? 7 * 86_400_000,
      });
    },
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
  for (const image of options.images ?? ['hello']) {
    await registry.publish(image.includes('/') ? image : join(IMAGES, image));
  }
  // With no images (`images: []`, the test publishes its own), the test signs the channel once it has.
  if (images.size > 0) await registry.sign();
  return registry;
}

/** Writes a small image folder (image.yaml + files) for tests. */
export async function makeImageDir(files: Record<string, string>, yaml: string): Promise<string> {
  const dir = await tempDir('bootos-image-');
  await writeFile(join(dir, 'image.yaml'), yaml);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

export { cp };

/** A temp dir removed when the test ends. */
export async function testDir(t: { teardown(fn: () => unknown): void }, prefix?: string): Promise<string> {
  const dir = await tempDir(prefix);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
