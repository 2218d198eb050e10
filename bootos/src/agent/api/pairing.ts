// Pairing: how a browser elsewhere (an administrator's, the demo's host browser) gets the right to change state.
// The device always has one current code of eight digits, shown on its own screen (the kiosk, to the device's own
// programs only), on its serial console (the agent's log) and so in `bootos qemu`'s and `bootos demo`'s output. A
// browser that sends the code gets a session: a random token in an HttpOnly, SameSite=Strict cookie, kept in the
// agent's memory and expiring. A code works once and for a few minutes; a wrong one counts against the client's
// address and against all clients, so that guessing eight digits takes years. The person at the device revokes
// every session at once (and a new code is made). docs/security.md "Pairing".
import { randomBytes, randomInt } from 'node:crypto';
import { BootosError } from '../../../../fetcher/src/core/error.js';
import type { Limits } from '../../../../fetcher/src/core/limits.js';

export type PairingLimits = Pick<Limits, 'pairCodeLifetimeMs' | 'pairSessionLifetimeMs' | 'pairAttemptsPerMinute' | 'maxPairedSessions'>;

export const SESSION_COOKIE = 'bootos_pair';
const CODE_DIGITS = 8;
const MINUTE_MS = 60_000;
/** All clients together may try this many times the per-client rate (a LAN of guessers still gets nowhere). */
const GLOBAL_ATTEMPTS_FACTOR = 4;

interface Session {
  expiresAt: number;
  client: string;
}

export class Pairing {
  private code = '';
  private codeExpiresAt = 0;
  private readonly sessions = new Map<string, Session>();
  private readonly attempts = new Map<string, number[]>();
  private allAttempts: number[] = [];

  constructor(
    private readonly limits: PairingLimits,
    /** Where a new code is announced (the agent's log: the serial console). */
    private readonly announce: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current code (a new one when the last was used or has expired), as "1234 5678", and until when it holds. */
  current(): { code: string; expiresAt: string } {
    if (!this.code || this.now() >= this.codeExpiresAt) this.rotate();
    return { code: `${this.code.slice(0, 4)} ${this.code.slice(4)}`, expiresAt: new Date(this.codeExpiresAt).toISOString() };
  }

  /** A new code, announced; the old one stops working. */
  rotate(): void {
    this.code = String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
    this.codeExpiresAt = this.now() + this.limits.pairCodeLifetimeMs;
    const shown = `${this.code.slice(0, 4)} ${this.code.slice(4)}`;
    this.announce(`pairing code ${shown} (for ${Math.round(this.limits.pairCodeLifetimeMs / 60_000)} min): enter it in the kiosk of another browser to let it open and stop apps`);
  }

  /** Checks a code sent by `client`; on success a new session's token (the code is used up), else a coded refusal. */
  pair(input: string, client: string): { token: string; expiresAt: string } {
    const now = this.now();
    const mine = (this.attempts.get(client) ?? []).filter((t) => now - t < MINUTE_MS);
    this.allAttempts = this.allAttempts.filter((t) => now - t < MINUTE_MS);
    if (mine.length >= this.limits.pairAttemptsPerMinute || this.allAttempts.length >= this.limits.pairAttemptsPerMinute * GLOBAL_ATTEMPTS_FACTOR) {
      throw new BootosError('PAIRING_TOO_MANY', 'too many pairing attempts; wait a minute and enter the code shown on the device');
    }
    mine.push(now);
    this.attempts.set(client, mine);
    this.allAttempts.push(now);
    const digits = input.replace(/[\s-]/g, '');
    this.current();
    if (!/^\d{8}$/.test(digits) || digits !== this.code) {
      throw new BootosError('PAIRING_REFUSED', 'that is not the code the device shows (it changes after each use and every few minutes)');
    }
    this.attempts.delete(client);
    this.rotate();
    this.dropExpired();
    while (this.sessions.size >= this.limits.maxPairedSessions) this.sessions.delete(this.sessions.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.limits.pairSessionLifetimeMs;
    this.sessions.set(token, { expiresAt, client });
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** The session a request's Cookie header carries, if it is one of ours and has not expired. */
  session(cookieHeader: string | undefined): { expiresAt: string } | null {
    const token = cookieValue(cookieHeader, SESSION_COOKIE);
    const session = token ? this.sessions.get(token) : undefined;
    if (!session) return null;
    if (this.now() >= session.expiresAt) {
      this.sessions.delete(token!);
      return null;
    }
    return { expiresAt: new Date(session.expiresAt).toISOString() };
  }

  /** Ends every session and makes a new code. */
  revoke(): number {
    const count = this.sessions.size;
    this.sessions.clear();
    this.rotate();
    return count;
  }

  get sessionCount(): number {
    this.dropExpired();
    return this.sessions.size;
  }

  /** The Set-Cookie header of a new session. */
  cookie(token: string): string {
    return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(this.limits.pairSessionLifetimeMs / 1000)}`;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [token, s] of this.sessions) if (now >= s.expiresAt) this.sessions.delete(token);
  }
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}
