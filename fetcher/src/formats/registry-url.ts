// The one grammar of registry locations (docs/formats.md, "Registry URLs"), used by the CLI, `bootos pull`, the
// agent's config (kernel command line and agent.json) and the QEMU harness:
//   oci://HOST[:PORT]/NAMESPACE        an OCI Distribution registry over HTTPS (the default; any real registry)
//   oci+http://HOST[:PORT]/NAMESPACE   the same over plain HTTP (loopback, lab networks, an office cache on a LAN)
//   http(s)://HOST[:PORT][/PATH]       a static web server holding a registry directory
//   anything else                      a registry directory on this machine (where directories are allowed)
// NAMESPACE is the one OCI repository that holds a bootos registry: every blob, every image (tagged NAME-VERSION)
// and the trust artifacts (tagged root, root-N, channel-NAME). Credentials may be given as user:password@.
import { statSync } from 'node:fs';
import { BootosError } from '../core/error.js';

export interface RegistryUrl {
  /** "https://host:port" or "http://host:port": where /v2/ lives. */
  origin: string;
  /** The repository (OCI "name"), e.g. "bootos" or "acme/bootos". */
  repository: string;
  /** From user:password@ in the URL, if given. */
  credentials?: Credentials;
  /** The URL without credentials, for messages. */
  display: string;
}

/** The OCI Distribution spec's repository name grammar (lowercase path components). */
export const REPOSITORY_NAME = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
/** The OCI Distribution spec's tag grammar. */
export const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isOciUrl(location: string): boolean {
  return /^oci(\+http)?:\/\//.test(location);
}

export function parseRegistryUrl(location: string): RegistryUrl {
  const match = /^(oci|oci\+http):\/\/(.*)$/.exec(location);
  if (!match) throw new BootosError('USAGE', `not a registry URL: ${location} (use oci://HOST[:PORT]/NAMESPACE or oci+http://…)`);
  const scheme = match[1] === 'oci' ? 'https' : 'http';
  let url: URL;
  try {
    url = new URL(`${scheme}://${match[2]}`);
  } catch {
    throw new BootosError('USAGE', `not a registry URL: ${location}`);
  }
  const repository = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  if (!repository) throw new BootosError('USAGE', `${location}: the URL needs a namespace, e.g. oci://${url.host}/bootos`);
  if (!REPOSITORY_NAME.test(repository) || repository.length > 255) {
    throw new BootosError('USAGE', `${location}: invalid namespace ${JSON.stringify(repository)} (lowercase letters, digits, . _ - and /)`);
  }
  if (url.search || url.hash) throw new BootosError('USAGE', `${location}: a registry URL has no query or fragment`);
  const credentials = url.username ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : undefined;
  const origin = `${scheme}://${url.host}`;
  return { origin, repository, credentials, display: `${match[1]}://${url.host}/${repository}` };
}

/** Plain HTTP is fine for signed content, but not for passwords outside this machine. */
export function isLoopbackHost(origin: string): boolean {
  const host = new URL(origin).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A user name and password for a registry (Basic, or exchanged for a bearer token). */
export interface Credentials {
  username: string;
  password: string;
}

export type RegistryLocation = { kind: 'oci'; url: RegistryUrl } | { kind: 'http'; url: string } | { kind: 'dir'; path: string };

/**
 * Reads a registry location by the one grammar above; `directories: false` (a device) accepts URLs only. A location
 * that looks like HOST:PORT without a scheme is refused with the URL it probably meant, instead of being taken as a
 * directory that never appears.
 */
export function parseRegistryLocation(text: string, options: { directories?: boolean; isDirectory?: (path: string) => boolean } = {}): RegistryLocation {
  const urls = 'oci://HOST/NAMESPACE, oci+http://HOST:PORT/NAMESPACE or http(s)://HOST:PORT/';
  if (isOciUrl(text)) return { kind: 'oci', url: parseRegistryUrl(text) };
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new BootosError('USAGE', `not a registry URL: ${text}`);
    }
    if (!url.hostname || /\s/.test(text)) throw new BootosError('USAGE', `not a registry URL: ${text}`);
    return { kind: 'http', url: text };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) throw new BootosError('USAGE', `${text}: unknown scheme ${scheme[1]}:// (expected ${urls})`);
  const hostPort = /^([a-z0-9.-]+|\[[0-9a-f:]+\]):(\d{1,5})(\/.*)?$/i.exec(text);
  if (hostPort) throw new BootosError('USAGE', `${text} has no scheme: write http://${hostPort[1]}:${hostPort[2]}${hostPort[3] ?? '/'} (or oci+http://…)`);
  // HOST/PATH (registry.example.com/bootos, localhost/reg, 10.0.2.2/reg) that is not a directory here: a URL without
  // its scheme, which would otherwise be a directory that never appears. `./NAME` says a directory is meant.
  const hostPath = /^(localhost|\d{1,3}(?:\.\d{1,3}){3}|(?:[a-z0-9-]+\.)+[a-z]{2,})\/[^\0]*$/i.exec(text);
  const isDirectory = options.isDirectory ?? ((path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true);
  if (hostPath && (options.directories === false || !isDirectory(text))) {
    const where = options.directories === false ? '' : `, or ./${text} for a new directory`;
    throw new BootosError('USAGE', `${text} has no scheme and is not a directory: write http://${text}${text.endsWith('/') ? '' : '/'} or oci://${text}${where}`);
  }
  if (options.directories === false) throw new BootosError('USAGE', `${text} is not a registry URL (expected ${urls})`);
  if (text === '' || text.includes('\0')) throw new BootosError('USAGE', 'an empty registry location');
  return { kind: 'dir', path: text };
}
