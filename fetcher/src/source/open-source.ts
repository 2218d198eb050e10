// The one factory of sources: a location as the CLI, the agent's config and the QEMU harness accept it.
import { DirSource } from './dir-source.js';
import { HttpSource, type HttpSourceOptions } from './http-source.js';
import { OciSource } from './oci-source.js';
import type { RegistrySource } from './source.js';
import { isOciUrl } from '../formats/registry-url.js';

/**
 * "oci://…" or "oci+http://…" → OciSource (docs/formats.md, "Registry URLs"; `options.mirrors` are more oci:// URLs of
 * the same registry), "http(s)://…" → HttpSource (with `options.mirrors` tried after it), anything else → a directory.
 */
export function openSource(location: string, options: HttpSourceOptions = {}): RegistrySource {
  if (isOciUrl(location)) return new OciSource(location, options);
  return /^https?:\/\//.test(location) ? new HttpSource([location, ...(options.mirrors ?? [])], options) : new DirSource(location, options.limits);
}
