// A bootos image's config blob is a standard OCI image config (application/vnd.oci.image.config.v1+json), so that
// podman, containerd and registries treat a bootos image as any other: the process (Entrypoint, Env, WorkingDir,
// User, StopSignal), the platform and rootfs.diff_ids are in the standard fields, and the settings only bootos
// has (ports, idle, health, resources, network, data, handover, init…) are one label, dev.bootos.config, holding
// their JSON. The config's digest is in the signed chain (channel → index → manifest → config), so the label is
// as signed as the rest. docs/formats.md "Image config".
import type { ErrorCode } from '../core/error.js';
import { Reader, SHA256_DIGEST, parseJson } from '../core/guard.js';
import { OCI_ARCHES } from '../core/arch.js';
import { canonicalBytes } from '../core/canonical-json.js';
import { readImageConfig, type ImageConfig } from './image-config.js';

export const BOOTOS_CONFIG_LABEL = 'dev.bootos.config';

/** The fields of the bootos config that live in the label (the rest are standard OCI fields). */
const LABEL_FIELDS = [
  'schemaVersion', 'name', 'version', 'description', 'runtime', 'ports', 'health', 'idle', 'resources', 'network',
  'data', 'handover', 'allowSetuid', 'init',
] as const;

export interface OciImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    StopSignal?: string;
    Labels?: Record<string, string>;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
}

/** The OCI config of one platform's manifest: `diffIds` are the sha256 of each layer's uncompressed tar, in order. */
export function toOciConfig(config: ImageConfig, diffIds: string[], created?: string): OciImageConfig {
  const label: Record<string, unknown> = {};
  for (const key of LABEL_FIELDS) label[key] = config[key];
  return {
    ...(created ? { created } : {}),
    architecture: config.architecture,
    os: config.os,
    config: {
      User: `${config.user.uid}:${config.user.gid}`,
      Env: config.env,
      Entrypoint: config.entrypoint,
      WorkingDir: config.workdir,
      ExposedPorts: Object.fromEntries(config.ports.map((p) => [`${p.port}/tcp`, {}])),
      StopSignal: config.stopSignal,
      Labels: { [BOOTOS_CONFIG_LABEL]: canonicalBytes(label).toString('utf8') },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
}

/**
 * A fetched config → the bootos config, every field checked; `layers` is the manifest's layer count, which
 * rootfs.diff_ids must match. An OCI config without the bootos label is not a bootos image (REGISTRY_INVALID).
 */
export function readOciConfig(value: unknown, layers: number, where = 'image config', code: ErrorCode = 'REGISTRY_INVALID'): ImageConfig {
  const r = new Reader(code, where);
  // Other tools' fields (history, author, created…) are allowed and ignored, as the OCI spec asks.
  const o = r.object(value, '');
  const process = r.required(o, 'config', '', (v, p) => r.object(v, p));
  const rootfs = r.required(o, 'rootfs', '', (v, p) => r.object(v, p));
  const diffIds = r.required(rootfs, 'diff_ids', 'rootfs', (v, p) => r.stringArray(v, p));
  diffIds.forEach((d, i) => r.string(d, `rootfs.diff_ids[${i}]`, SHA256_DIGEST, 'expected sha256:<64 hex>'));
  if (diffIds.length !== layers) r.fail('rootfs.diff_ids', `lists ${diffIds.length} layers, the manifest ${layers}`);
  const labels = r.optional(process, 'Labels', 'config', (v, p) => r.object(v, p)) ?? {};
  const labelValue = labels[BOOTOS_CONFIG_LABEL];
  const text = typeof labelValue === 'string' ? labelValue : r.fail('config.Labels', `has no ${BOOTOS_CONFIG_LABEL} label: not a bootos image (publish it with bootos publish)`);
  const label = r.object(parseJson(text, `${where}: label ${BOOTOS_CONFIG_LABEL}`), `config.Labels["${BOOTOS_CONFIG_LABEL}"]`, LABEL_FIELDS);
  const user = r.required(process, 'User', 'config', (v, p) => r.string(v, p, /^\d+:\d+$/, 'expected UID:GID'));
  const [uid, gid] = user.split(':').map(Number);
  return readImageConfig(
    {
      ...label,
      os: r.required(o, 'os', '', (v, p) => r.oneOf(v, p, ['linux'] as const)),
      architecture: r.required(o, 'architecture', '', (v, p) => r.oneOf(v, p, OCI_ARCHES)),
      entrypoint: [
        ...(r.optional(process, 'Entrypoint', 'config', (v, p) => r.stringArray(v, p)) ?? []),
        ...(r.optional(process, 'Cmd', 'config', (v, p) => r.stringArray(v, p)) ?? []),
      ],
      env: r.optional(process, 'Env', 'config', (v, p) => r.stringArray(v, p)) ?? [],
      workdir: r.optional(process, 'WorkingDir', 'config', (v, p) => r.string(v, p)) || '/',
      user: { uid, gid },
      stopSignal: r.optional(process, 'StopSignal', 'config', (v, p) => r.string(v, p)) ?? 'SIGTERM',
    },
    where,
    code,
  );
}
