// A RegistrySource over the OCI Distribution API, so that a device reads a bootos registry from any OCI registry
// (CNCF Distribution, Harbor, a cloud registry) or an office cache in front of one. It maps the paths the device asks
// for onto the API; the device's trust checks (Trust.fetchChannel, resolveImage, pullImage) are the same as for a
// directory:
//   root.json, roots/N.root.json, channels/NAME.json → GET /v2/<ns>/manifests/<tag> (a trust artifact), then its blob
//   blobs/sha256/<hex>                               → GET /v2/<ns>/blobs/sha256:<hex>
//                                                      (404 → GET /v2/<ns>/manifests/sha256:<hex>: index and manifest
//                                                      blobs copied by other tools, e.g. skopeo, live only there)
// Every request goes through the shared transport (transport.ts): keep-alive, TLS/mTLS, timeouts, retries, mirrors
// (more oci:// URLs of the same registry, e.g. the office cache first and the central registry after it) and Range
// resume of blobs. Authentication is added per mirror: a 401 is answered by that mirror's OciClient (Basic, or a
// bearer token from the challenge's realm), which sends through the same transport, and the request is repeated
// with the header it learned.
import { sha256Digest } from '../core/digest.js';
import type { HttpSourceOptions } from './http-source.js';
import { BootosError } from '../core/error.js';
import { parseJson } from '../core/guard.js';
import { withLimits, type Limits } from '../core/limits.js';
import { OCI_MEDIA_ACCEPT, OciClient, type OciClientOptions } from './oci-client.js';
import { parseRegistryUrl } from '../formats/registry-url.js';
import { type BlobRange, type Conditional, type RegistrySource } from './source.js';
import { readArtifactManifest, trustArtifactFor, type TrustArtifactRef } from '../formats/trust-artifacts.js';
import { Transport } from './transport.js';

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

export interface OciSourceOptions extends HttpSourceOptions, Omit<OciClientOptions, 'push' | 'transport'> {}

export class OciSource implements RegistrySource {
  readonly transport: Transport;
  /** One client (credentials, tokens) per mirror, by the mirror's base URL (".../v2/<ns>/"). */
  private readonly clients = new Map<string, OciClient>();
  private readonly limits: Limits;
  private readonly display: string[];

  /** `location`: oci://HOST[:PORT]/NAMESPACE or oci+http://…; `options.mirrors`: more such URLs, tried in order. */
  constructor(location: string, options: OciSourceOptions = {}) {
    const { mirrors = [], limits, onEvent, ...clientOptions } = options;
    const urls = [location, ...mirrors].map((mirror) => parseRegistryUrl(mirror));
    const bases = urls.map((url) => `${url.origin}/v2/${url.repository}/`);
    this.display = urls.map((url) => url.display);
    this.limits = withLimits(limits);
    this.transport = new Transport({
      mirrors: bases,
      name: this.display[0],
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      limits,
      onEvent,
      headers: (url) => this.headers(url),
      onUnauthorized: async (url) => {
        await this.clientFor(url).authorize(url.href);
        return true;
      },
    });
    // Authentication (a HEAD, a token request) goes through the same transport as the reads.
    urls.forEach((url, i) => this.clients.set(bases[i]!, new OciClient(url, { ...clientOptions, limits, transport: this.transport })));
  }

  get location(): string {
    const base = this.transport.location;
    return this.clients.get(base)?.location ?? this.display[0]!;
  }

  private clientFor(url: URL): OciClient {
    for (const [base, client] of this.clients) if (url.href.startsWith(base)) return client;
    // A redirect target (e.g. object storage) is not a mirror: it gets no credentials.
    throw new BootosError('HTTP_ERROR', `${url.origin} is not a registry of this source`);
  }

  private headers(url: URL): Record<string, string> {
    const headers: Record<string, string> = {};
    const client = [...this.clients.entries()].find(([base]) => url.href.startsWith(base))?.[1];
    const authorization = client?.authorization();
    if (authorization) headers.authorization = authorization;
    if (url.pathname.includes('/manifests/')) headers.accept = OCI_MEDIA_ACCEPT.join(', ');
    return headers;
  }

  async get(path: string, maxBytes: number): Promise<Buffer | null> {
    const artifact = trustArtifactFor(path);
    if (artifact) return this.trustDocument(artifact, maxBytes);
    const blob = BLOB_PATH.exec(path);
    if (blob) {
      return (
        (await this.transport.getBytes(`blobs/sha256:${blob[1]}`, maxBytes)) ??
        (await this.transport.getBytes(`manifests/sha256:${blob[1]}`, maxBytes))
      );
    }
    // Nothing else of a registry directory exists in an OCI registry.
    return null;
  }

  /** Streams a blob (layers) with the transport's retries, mirror fail-over and Range resume. */
  blob(path: string, range: BlobRange): AsyncIterable<Buffer> {
    const blob = BLOB_PATH.exec(path);
    if (!blob) throw new BootosError('NOT_FOUND', `${path} is not a blob path (blobs/sha256/<hex>)`);
    return this.transport.blob(`blobs/sha256:${blob[1]}`, range);
  }

  /** Trust artifacts are read whole at every poll (a registry's tags carry no validator that this reads yet). */
  async getIfChanged(path: string, maxBytes: number): Promise<Conditional> {
    const bytes = await this.get(path, maxBytes);
    return bytes ? { changed: true, bytes, etag: null } : { changed: true, bytes: null, etag: null };
  }

  close(): void {
    this.transport.close();
  }

  private async trustDocument(ref: TrustArtifactRef, maxBytes: number): Promise<Buffer | null> {
    const where = `${this.location} tag ${ref.tag}`;
    const manifest = await this.transport.getBytes(`manifests/${ref.tag}`, this.limits.maxManifestBytes);
    if (!manifest) return null;
    const layer = readArtifactManifest(parseJson(manifest, where), ref, where);
    // Endless data: the document's declared size is checked against the caller's cap before a byte is read.
    if (layer.size > maxBytes) throw new BootosError('DOCUMENT_TOO_LARGE', `${ref.path} is larger than the ${maxBytes}-byte cap`);
    const bytes = await this.get(`blobs/sha256/${layer.digest.slice('sha256:'.length)}`, layer.size);
    if (!bytes) throw new BootosError('NOT_FOUND', `${where}: names blob ${layer.digest}, which the registry does not have`);
    // The signatures inside are what the device trusts; this check only catches an inconsistent registry early.
    const digest = sha256Digest(bytes);
    if (bytes.length !== layer.size) throw new BootosError('SIZE_MISMATCH', `${where}: ${layer.digest} is ${bytes.length} bytes, expected ${layer.size}`);
    if (digest !== layer.digest) throw new BootosError('DIGEST_MISMATCH', `${where}: expected ${layer.digest}, got ${digest}`);
    return bytes;
  }
}
