// Shared set-up of the fleet benchmarks: a signed bootos registry holding one mixed-file image, pushed into a real
// docker-registry, plus a companion tag with a standard OCI image config for peers that need one (containerd).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { canonicalBytes } from '../fetcher/src/core/canonical-json.js';
import { generateKey } from '../fetcher/src/trust/keys.js';
import { sha256Digest } from '../fetcher/src/publish/layout.js';
import { MEDIA, blobPath, type Descriptor } from '../fetcher/src/formats/oci.js';
import { publishImage, type PublishResult } from '../fetcher/src/publish/publish.js';
import { pushRegistry } from '../fetcher/src/publish/push.js';
import { OciClient } from '../fetcher/src/source/oci-client.js';
import { initRoot, signChannel } from '../fetcher/src/publish/signer.js';
import { writeMixedImage } from './mixed-image.js';

export interface BenchRegistry {
  layout: string;
  rootFile: string;
  image: PublishResult;
  layer: Descriptor;
  files: number;
  /** The tag of the companion image with a standard OCI config (same layer). */
  ociTag: string;
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
  const ociTag = await pushOciCompanion(layout, url, layer, `${image.name}-${image.version}-oci`);
  return { layout, rootFile: join(layout, 'root.json'), image, layer, files: generated.files, ociTag };
}

/**
 * containerd unpacks only images whose config is an OCI image config (it reads rootfs.diff_ids to name the
 * snapshots); bootos images carry their own config media type. The companion manifest names the very same layer
 * blob with a standard config, so every peer downloads and unpacks identical bytes.
 */
async function pushOciCompanion(layout: string, url: string, layer: Descriptor, tag: string): Promise<string> {
  const diffId = createHash('sha256');
  await pipeline(
    createReadStream(join(layout, blobPath(layer.digest))),
    createGunzip(),
    new Writable({
      write(chunk, _enc, done) {
        diffId.update(chunk);
        done();
      },
    }),
  );
  const config = canonicalBytes({
    architecture: 'amd64',
    os: 'linux',
    config: { Entrypoint: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId.digest('hex')}`] },
  });
  const configDescriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length };
  const manifest = canonicalBytes({ schemaVersion: 2, mediaType: MEDIA.manifest, config: configDescriptor, layers: [layer] });
  const client = new OciClient(url, { push: true });
  try {
    await client.uploadBlob(configDescriptor.digest, config.length, () => streamOf(config));
    await client.putManifest(tag, MEDIA.manifest, manifest);
  } finally {
    client.close();
  }
  return tag;
}

function streamOf(bytes: Buffer) {
  return Readable.from([bytes]);
}
