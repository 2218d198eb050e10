// bootos's trust documents as OCI artifacts, so that one OCI registry holds everything (docs/formats.md):
//   root.json          → tag `root`          artifactType application/vnd.bootos.root.v1+json
//   roots/N.root.json  → tag `root-N`        artifactType application/vnd.bootos.root.v1+json
//   channels/NAME.json → tag `channel-NAME`  artifactType application/vnd.bootos.channel.v1+json
//   devices.json       → tag `devices`       artifactType application/vnd.bootos.devices.v1+json
// Each artifact is an OCI image manifest (OCI 1.1 artifact form: artifactType, the empty config) with one layer:
// the document's exact bytes. The device still verifies the document's signatures; the manifest only locates it.
import { canonicalBytes } from '../core/canonical-json.js';
import { Reader } from '../core/guard.js';
import { sha256Digest } from '../core/digest.js';
import { ANNOTATION, MEDIA, readDescriptor, type Descriptor } from './oci.js';
import { CHANNEL_NAME } from './trust-docs.js';
import { DEVICES_PATH } from './devices-doc.js';

export const TRUST_MEDIA = {
  root: 'application/vnd.bootos.root.v1+json',
  channel: 'application/vnd.bootos.channel.v1+json',
  devices: 'application/vnd.bootos.devices.v1+json',
  /** The OCI 1.1 empty descriptor's media type: the config of an artifact that needs none. */
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

export const EMPTY_CONFIG_BYTES = Buffer.from('{}');
export const EMPTY_CONFIG: Descriptor = { mediaType: TRUST_MEDIA.empty, digest: sha256Digest(EMPTY_CONFIG_BYTES), size: EMPTY_CONFIG_BYTES.length };

export interface TrustArtifactRef {
  /** The registry-directory path, e.g. "channels/stable.json". */
  path: string;
  tag: string;
  artifactType: (typeof TRUST_MEDIA)['root' | 'channel' | 'devices'];
}

/** Maps a registry-directory path to its artifact tag; null for paths that are not trust documents. */
export function trustArtifactFor(path: string): TrustArtifactRef | null {
  if (path === 'root.json') return { path, tag: 'root', artifactType: TRUST_MEDIA.root };
  if (path === DEVICES_PATH) return { path, tag: 'devices', artifactType: TRUST_MEDIA.devices };
  const root = /^roots\/([1-9]\d{0,8})\.root\.json$/.exec(path);
  if (root) return { path, tag: `root-${root[1]}`, artifactType: TRUST_MEDIA.root };
  const channel = /^channels\/([^/]+)\.json$/.exec(path);
  if (channel && CHANNEL_NAME.test(channel[1]!)) return { path, tag: `channel-${channel[1]}`, artifactType: TRUST_MEDIA.channel };
  return null;
}

/** The artifact manifest (canonical bytes, so the same document always gives the same manifest digest). */
export function artifactManifest(ref: TrustArtifactRef, document: Buffer): { bytes: Buffer; layer: Descriptor } {
  const layer: Descriptor = {
    mediaType: ref.artifactType,
    digest: sha256Digest(document),
    size: document.length,
    annotations: { [ANNOTATION.title]: ref.path },
  };
  const bytes = canonicalBytes({
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    artifactType: ref.artifactType,
    config: EMPTY_CONFIG,
    layers: [layer],
    annotations: { [ANNOTATION.title]: ref.path },
  });
  return { bytes, layer };
}

/** Reads an artifact manifest fetched from a registry (untrusted) and returns the descriptor of its document. */
export function readArtifactManifest(value: unknown, ref: TrustArtifactRef, where: string): Descriptor {
  const r = new Reader('REGISTRY_INVALID', where);
  const o = r.object(value, '');
  r.required(o, 'schemaVersion', '', (v, p) => (v === 2 ? v : r.fail(p, 'expected 2')));
  r.required(o, 'mediaType', '', (v, p) => (v === MEDIA.manifest ? v : r.fail(p, `expected ${MEDIA.manifest}`)));
  // The artifact type is named either by artifactType (OCI 1.1) or, by older tools, by the config media type.
  const config = r.required(o, 'config', '', (v, p) => readDescriptor(r, v, p));
  const artifactType = r.optional(o, 'artifactType', '', (v, p) => r.string(v, p)) ?? config.mediaType;
  if (artifactType !== ref.artifactType) r.fail('artifactType', `expected ${ref.artifactType} for tag ${ref.tag}, got ${artifactType}`);
  const layers = r.required(o, 'layers', '', (v, p) => r.array(v, p).map((d, i) => readDescriptor(r, d, `${p}[${i}]`)));
  if (layers.length !== 1) r.fail('layers', `expected exactly one layer (the document), got ${layers.length}`);
  const layer = layers[0]!;
  if (layer.mediaType !== ref.artifactType) r.fail('layers[0].mediaType', `expected ${ref.artifactType}`);
  return layer;
}
