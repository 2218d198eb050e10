// Shared set-up of the fleet benchmarks: a signed bootos registry holding one mixed-file image, pushed into a real
// docker-registry. Its config is a standard OCI image config, so every peer (containerd, skopeo, podman) pulls the
// very same tag.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKey } from '../fetcher/src/trust/keys.js';
import type { Descriptor } from '../fetcher/src/formats/oci.js';
import { publishImage, type PublishResult } from '../fetcher/src/publish/publish.js';
import { pushRegistry } from '../fetcher/src/publish/push.js';
import { initRoot, signChannel } from '../fetcher/src/publish/signer.js';
import { writeMixedImage } from './mixed-image.js';

export interface BenchRegistry {
  layout: string;
  rootFile: string;
  image: PublishResult;
  layer: Descriptor;
  files: number;
  /** The image's tag in the registry (NAME-VERSION), for every peer. */
  tag: string;
}

/** Builds work/image (mixed files, `mib` MiB), publishes and signs it into work/registry, pushes it to `url`. */
export async function prepareBenchRegistry(work: string, mib: number, url: string, log: (line: string) => void): Promise<BenchRegistry> {
  const t0 = Date.now();
  const generated = await writeMixedImage(join(work, 'image'), mib * 1024 * 1024);
  log(`generated ${generated.files} files, ${(generated.bytes / 2 ** 20).toFixed(0)} MiB in ${Date.now() - t0} ms`);
  const layout = join(work, 'registry');
  await mkdir(layout, { recursive: true });
  const key = generateKey();
  await initRoot({ registry: layout, keys: [key.publicKey], threshold: 1, signers: [key], expiresMs: 86_400_000 });
  const t1 = Date.now();
  const image = await publishImage(join(work, 'image'), layout);
  log(`published ${image.name} ${image.version}: layer ${(image.layers[0]!.size / 2 ** 20).toFixed(1)} MiB gzip in ${Date.now() - t1} ms`);
  await signChannel({ registry: layout, name: 'stable', profiles: { office: [image.name] }, signers: [key], expiresMs: 86_400_000 });
  await pushRegistry(layout, url);
  const layer = image.layers[0]!;
  return { layout, rootFile: join(layout, 'root.json'), image, layer, files: generated.files, tag: `${image.name}-${image.version}` };
}
