// A real CNCF Distribution registry (Debian's docker-registry) for tests and benchmarks: filesystem storage in a temp
// dir, a loopback port picked by the kernel, optional htpasswd (Basic) or token (bearer) authentication.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './daemon.js';

export interface DockerRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "oci+http://127.0.0.1:PORT/<namespace>" */
  url(namespace: string): string;
  /** The registry's own log, one line per request ("GET /v2/… HTTP/1.1" STATUS …). */
  requests(): string[];
  storage: string;
  stop(): Promise<void>;
}

export interface RegistryAuthOptions {
  /** Basic authentication with one user. */
  htpasswd?: { username: string; password: string };
  /** Bearer tokens from a token service: its realm URL, and the PEM certificate that signs the tokens. */
  token?: { realm: string; service: string; issuer: string; certificatePem: string };
}

export async function startDockerRegistry(options: RegistryAuthOptions & { addr?: string } = {}): Promise<DockerRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'bootos-docker-registry-'));
  const storage = join(dir, 'storage');
  let auth = '';
  if (options.htpasswd) {
    const line = execFileSync('htpasswd', ['-Bbn', options.htpasswd.username, options.htpasswd.password]).toString();
    await writeFile(join(dir, 'htpasswd'), line);
    auth = `auth:\n  htpasswd:\n    realm: bootos-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (options.token) {
    await writeFile(join(dir, 'token.crt'), options.token.certificatePem);
    auth = [
      'auth:',
      '  token:',
      `    realm: ${options.token.realm}`,
      `    service: ${options.token.service}`,
      `    issuer: ${options.token.issuer}`,
      `    rootcertbundle: ${join(dir, 'token.crt')}`,
      '',
    ].join('\n');
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${options.addr ?? '127.0.0.1:0'}`,
    auth,
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), config);
  let daemon: Daemon;
  try {
    daemon = await startDaemon('docker-registry', ['serve', join(dir, 'config.yml')], { ready: (out) => /listening on \S+:\d+/.test(out) });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const host = /listening on (\S+:\d+)/.exec(daemon.output())![1]!.replace(/^\[::\]/, '127.0.0.1');
  return {
    host,
    url: (namespace) => `oci+http://${host}/${namespace}`,
    requests: () => daemon.output().split('\n').filter((l) => /^\S+ - \S* \[/.test(l)),
    storage,
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Requests in the registry's access log matching a method and a path pattern, e.g. ("GET", /\/blobs\//). */
export function countRequests(lines: string[], method: string, path: RegExp, status?: number): number {
  return lines.filter((l) => {
    const m = /"(\w+) (\S+) HTTP\/[\d.]+" (\d+)/.exec(l);
    return m && m[1] === method && path.test(m[2]!) && (status === undefined || Number(m[3]) === status);
  }).length;
}
