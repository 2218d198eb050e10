// Authentication to an OCI Distribution registry: HTTP Basic credentials and the bearer-token challenge
// (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the Docker/OCI token flow). A 401 tells us which scheme
// the registry wants; we answer it once, then reuse the answer (token per scope) for later requests.
import { BootosError } from '../core/error.js';
import { Reader } from '../core/guard.js';
import { DEFAULT_LIMITS } from '../core/limits.js';

import type { Credentials } from '../formats/registry-url.js';

export type { Credentials };

/** BOOTOS_REGISTRY_USERNAME / BOOTOS_REGISTRY_PASSWORD, when both are set. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const username = env.BOOTOS_REGISTRY_USERNAME;
  const password = env.BOOTOS_REGISTRY_PASSWORD;
  return username && password !== undefined ? { username, password } : undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"` (RFC 7235 auth-params). */
export function parseChallenge(header: string): Challenge | null {
  const match = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/.exec(header);
  if (!match) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  for (const m of match[2]!.matchAll(re)) params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return { scheme: match[1]!.toLowerCase(), params };
}

/** Fetches a token: (url, Authorization header or undefined) → the parsed JSON body. */
export type TokenFetcher = (url: URL, authorization: string | undefined) => Promise<unknown>;

export class RegistryAuth {
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private readonly tokens = new Map<string, { token: string; expiresAtMs: number }>();
  private bearer?: Challenge;
  private pending?: Promise<void>;

  constructor(
    readonly credentials: Credentials | undefined,
    private readonly fetchToken: TokenFetcher,
    private readonly options: { renewBeforeExpiryMs?: number; now?: () => number } = {},
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private basic(): string | undefined {
    const c = this.credentials;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  }

  /** The Authorization header for a request needing `scope`, from what earlier challenges taught us. */
  authorization(scope: string): string | undefined {
    if (this.scheme === 'basic') return this.basic();
    if (this.scheme === 'bearer') {
      const cached = this.tokens.get(scope);
      if (cached && cached.expiresAtMs > this.now()) return `Bearer ${cached.token}`;
    }
    return undefined;
  }

  /** Whether a request needing `scope` already has what it needs (no 401 round trip expected). */
  ready(scope: string): boolean {
    return this.scheme === 'none' || this.authorization(scope) !== undefined;
  }

  /**
   * Answers a 401. Afterwards authorization(scope) has a header worth retrying with; throws AUTH_REQUIRED when the
   * registry wants credentials that we do not have.
   */
  async answer(header: string | null, scope: string, where: string): Promise<void> {
    // Requests sent in parallel meet the same challenge: answer it once, and let the others wait for that answer.
    if (!this.pending) this.pending = this.answerOnce(header, scope, where).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async answerOnce(header: string | null, scope: string, where: string): Promise<void> {
    const challenge = header ? parseChallenge(header) : null;
    if (!challenge) throw new BootosError('AUTH_REQUIRED', `${where}: the registry demands authentication without a usable WWW-Authenticate challenge`);
    if (challenge.scheme === 'basic') {
      if (!this.credentials) {
        throw new BootosError('AUTH_REQUIRED', `${where}: the registry needs a username and password (--username/--password or BOOTOS_REGISTRY_USERNAME/BOOTOS_REGISTRY_PASSWORD)`);
      }
      this.scheme = 'basic';
      return;
    }
    if (challenge.scheme !== 'bearer') throw new BootosError('AUTH_REQUIRED', `${where}: unsupported authentication scheme ${challenge.scheme}`);
    const realm = challenge.params.realm;
    if (!realm) throw new BootosError('AUTH_REQUIRED', `${where}: bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new BootosError('AUTH_REQUIRED', `${where}: bearer realm is not a URL: ${realm}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BootosError('AUTH_REQUIRED', `${where}: bearer realm must be http(s): ${realm}`);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    // The registry names the scope it wants; ask for ours too (push needs pull,push where a HEAD asked for pull).
    for (const s of new Set([challenge.params.scope, scope].filter((s): s is string => !!s))) url.searchParams.append('scope', s);
    const body = await this.fetchToken(url, this.basic());
    const r = new Reader('AUTH_REFUSED', `${where}: token response`);
    const o = r.object(body, '');
    const found = o.token ?? o.access_token;
    const token = typeof found === 'string' && found ? found : r.fail('token', 'missing');
    // A token without expires_in lasts 60 seconds (the Docker token specification's default).
    const expiresIn = typeof o.expires_in === 'number' && o.expires_in > 0 ? o.expires_in : 60;
    this.scheme = 'bearer';
    this.bearer = challenge;
    // Renew a little early so that a token never expires mid-request (but keep it at least a second).
    const renewBeforeMs = this.options.renewBeforeExpiryMs ?? DEFAULT_LIMITS.tokenRenewBeforeExpiryMs;
    this.tokens.set(scope, { token, expiresAtMs: this.now() + Math.max(1000, expiresIn * 1000 - renewBeforeMs) });
  }

  describe(): string {
    return this.scheme === 'bearer' ? `bearer (${this.bearer?.params.realm})` : this.scheme;
  }
}

