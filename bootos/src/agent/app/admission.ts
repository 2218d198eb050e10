// Which connections the app ports accept: at most proxyMaxConnectionsPerClient from one client address (all ports of
// all apps together), proxyMaxConnectionsPerApp to one app and proxyMaxConnections in all. A connection costs the
// agent two descriptors (the client's and the one to the app); the total cap keeps them well below the agent's
// RLIMIT_NOFILE, so that a client holding connections open (slowloris) cannot starve the API, the store or runc.
import type { Limits } from '../../../../fetcher/src/core/limits.js';

export type AdmissionLimits = Pick<Limits, 'proxyMaxConnections' | 'proxyMaxConnectionsPerClient' | 'proxyMaxConnectionsPerApp'>;

export class ConnectionAdmission {
  private total = 0;
  private readonly perClient = new Map<string, number>();
  private readonly perApp = new Map<string, number>();

  constructor(private readonly limits: AdmissionLimits) {}

  /**
   * Counts a new connection from `client` to `app` and returns what to call once it closed; or, when a cap is
   * reached, what was full (the caller closes the connection at once).
   */
  admit(client: string, app: string): { leave: () => void } | { full: string } {
    const l = this.limits;
    const mine = this.perClient.get(client) ?? 0;
    const theirs = this.perApp.get(app) ?? 0;
    if (mine >= l.proxyMaxConnectionsPerClient) return { full: `${mine} connections from ${client}` };
    if (theirs >= l.proxyMaxConnectionsPerApp) return { full: `${theirs} connections to ${app}` };
    if (this.total >= l.proxyMaxConnections) return { full: `${this.total} connections to the apps` };
    this.total++;
    this.perClient.set(client, mine + 1);
    this.perApp.set(app, theirs + 1);
    let left = false;
    return {
      leave: () => {
        if (left) return;
        left = true;
        this.total--;
        drop(this.perClient, client);
        drop(this.perApp, app);
      },
    };
  }

  /** Open connections in all (tests, reporting). */
  get open(): number {
    return this.total;
  }
}

function drop(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
