// The one factory of sources: a location as the CLI, the agent's config and the QEMU harness accept it.
import { DirSource } from './dir-source.js';
import { HttpSource, type HttpSourceOptions } from './http-source.js';
import { OciSource } from './oci-source.js';
import type { RegistrySource } from './source.js';
import { parseRegistryLocation } from '../formats/registry-url.js';

/**
 * "oci://…" or "oci+http://…" → OciSource (`options.mirrors` are more oci:// URLs of the same registry),
 * "http(s)://…" → HttpSource (with `options.mirrors` tried after it), a directory → DirSource. A location outside
 * the grammar (formats/registry-url.ts) is USAGE with a hint.
 */
export function openSource(location: string, options: HttpSourceOptions = {}): RegistrySource {
  const parsed = parseRegistryLocation(location);
  if (parsed.kind === 'oci') return new OciSource(location, options);
  if (parsed.kind === 'http') return new HttpSource([location, ...(options.mirrors ?? [])], options);
  return new DirSource(location, options.limits);
}
