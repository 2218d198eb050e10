// A RegistrySource over the OCI Distribution API, so that a device reads a bootos registry from any OCI registry
// (CNCF Distribution, Harbor, a cloud registry) or an office cache in front of one. It maps the paths the device asks
// for onto the API; the device's trust checks (Trust.fetchChannel, resolveImage) are the same as for a directory:
//   root.json, roots/N.root.json, channels/NAME.json → GET /v2/<ns>/manifests/<tag> (a trust artifact), then its blob
//   blobs/sha256/<hex>                               → GET /v2/<ns>/blobs/sha256:<hex>
//                                                      (404 → GET /v2/<ns>/manifests/sha256:<hex>: index and manifest
//                                                      blobs copied by other tools, e.g. skopeo, live only there)
import { createHash } from 'node:crypto';
import { BootosError } from './error.js';
import { parseJson } from './guard.js';
import { withLimits, type Limits } from './limits.js';
import { MEDIA } from './oci.js';
import { OCI_MEDIA_ACCEPT, OciClient, type OciClientOptions } from './registry-client.js';
import type { RegistryUrl } from './registry-url.js';
import type { RegistrySource } from './source.js';
import { readArtifactManifest, trustArtifactFor, type TrustArtifactRef } from './trust-artifacts.js';

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

export interface OciSourceOptions extends OciClientOptions {
  limits?: Partial<Limits>;
}

export class OciSource implements RegistrySource {
  readonly location: string;
  readonly client: OciClient;
  private readonly limits: Limits;

  constructor(location: string | RegistryUrl, options: OciSourceOptions = {}) {
    const { limits, ...clientOptions } = options;
    this.client = new OciClient(location, clientOptions);
    this.location = this.client.location;
    this.limits = withLimits(limits);
  }

  async get(path: string, maxBytes: number): Promise<Buffer | null> {
    const artifact = trustArtifactFor(path);
    if (artifact) return this.trustDocument(artifact, maxBytes);
    const blob = BLOB_PATH.exec(path);
    if (blob) return this.blob(`sha256:${blob[1]}`, maxBytes);
    // Nothing else of a registry directory exists in an OCI registry.
    return null;
  }

  /** The registry URL of a blob path: what a streaming transport needs (Range, resume). */
  blobUrl(path: string): string | null {
    const blob = BLOB_PATH.exec(path);
    return blob ? this.client.endpoint(`blobs/sha256:${blob[1]}`) : null;
  }

  close(): void {
    this.client.close();
  }

  private async blob(digest: string, maxBytes: number): Promise<Buffer | null> {
    const found =
      (await this.client.getBounded(`blobs/${digest}`, maxBytes)) ??
      (await this.client.getBounded(`manifests/${digest}`, maxBytes, { accept: OCI_MEDIA_ACCEPT.join(', ') }));
    return found?.bytes ?? null;
  }

  private async trustDocument(ref: TrustArtifactRef, maxBytes: number): Promise<Buffer | null> {
    const where = `${this.location} tag ${ref.tag}`;
    const manifest = await this.client.getBounded(`manifests/${ref.tag}`, this.limits.maxManifestBytes, { accept: MEDIA.manifest });
    if (!manifest) return null;
    const layer = readArtifactManifest(parseJson(manifest.bytes, where), ref, where);
    // Endless data: the document's declared size is checked against the caller's cap before a byte is read.
    if (layer.size > maxBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${ref.path} is larger than the ${maxBytes}-byte cap`);
    const bytes = await this.blob(layer.digest, layer.size);
    if (!bytes) throw new BootosError('NOT_FOUND', `${where}: names blob ${layer.digest}, which the registry does not have`);
    // The signatures inside are what the device trusts; this check only catches an inconsistent registry early.
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (bytes.length !== layer.size) throw new BootosError('SIZE_MISMATCH', `${where}: ${layer.digest} is ${bytes.length} bytes, expected ${layer.size}`);
    if (digest !== layer.digest) throw new BootosError('DIGEST_MISMATCH', `${where}: expected ${layer.digest}, got ${digest}`);
    return bytes;
  }
}
