// "bootos is up" means the apps can be opened: the agent has verified the channel and lists every app of the profile
// with a state and the port it listens on. (Its ready line on the serial console comes ~20 s earlier under TCG: the
// API answers, but the app ports are not open yet, and a connection to one is accepted by QEMU's forward and closed.)
import { BootosError } from '../../../fetcher/src/core/error.js';
import { scaledTimeout } from '../../../qemu/src/qemu.js';

export interface ListedApp {
  name: string;
  state: string;
  port: number;
}

/** Each of `names` from an /api/apps answer (docs/api.md), in that order; null while one is not listed with a state and a port. */
export function listedApps(value: unknown, names: readonly string[]): ListedApp[] | null {
  const apps = typeof value === 'object' && value !== null && Array.isArray((value as { apps?: unknown }).apps) ? ((value as { apps: unknown[] }).apps) : [];
  const out: ListedApp[] = [];
  for (const name of names) {
    const app = apps.find((a): a is Record<string, unknown> => typeof a === 'object' && a !== null && (a as { name?: unknown }).name === name);
    if (!app || typeof app.state !== 'string' || typeof app.port !== 'number' || !Number.isInteger(app.port)) return null;
    out.push({ name, state: app.state, port: app.port });
  }
  return out;
}

/** Polls `get` (GET /api/apps through the forwarded port) until listedApps has them all; timeoutMs is scaled. */
export async function waitForApps(get: () => Promise<unknown>, names: readonly string[], timeoutMs: number, running: () => boolean): Promise<ListedApp[]> {
  const limit = scaledTimeout(timeoutMs);
  const deadline = Date.now() + limit;
  let last = 'no answer yet';
  for (;;) {
    try {
      const value = await get();
      const listed = listedApps(value, names);
      if (listed) return listed;
      last = JSON.stringify(value).slice(0, 2000);
    } catch (err) {
      last = (err as Error).message;
    }
    if (!running()) throw new BootosError('QEMU_EXITED', `the guest stopped before its agent listed the apps ${names.join(', ')}`);
    if (Date.now() > deadline) throw new BootosError('QEMU_TIMEOUT', `the agent did not list the apps ${names.join(', ')} with their ports within ${limit} ms; last /api/apps: ${last}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
