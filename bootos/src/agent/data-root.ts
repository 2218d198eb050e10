// The data root (/var/lib/bootos: trust state, store, apps' /data) may still be mounting when the agent starts:
// /init mounts the data partition in the background and holds <runDir>/data-pending until it is done. Everything
// that touches the data root waits for that file to go; the API and the kiosk do not need it and start before.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BootosError } from '../../../fetcher/src/core/error.js';

/** How often the marker is looked at while it exists. */
export const DATA_PENDING_POLL_MS = 50;

async function present(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves with the milliseconds it waited once `<runDir>/data-pending` does not exist (at once, with 0, when it
 * never did). DATA_ROOT_TIMEOUT after `limitMs`; ABORTED when `signal` fires (the agent stops while it waits).
 */
export async function dataRootReady(runDir: string, limitMs: number, signal?: AbortSignal): Promise<number> {
  const marker = join(runDir, 'data-pending');
  if (!(await present(marker))) return 0;
  const started = Date.now();
  const deadline = started + limitMs;
  do {
    if (signal?.aborted) throw new BootosError('ABORTED', 'stopped while waiting for the data root');
    if (Date.now() >= deadline) {
      throw new BootosError('DATA_ROOT_TIMEOUT', `the data root is still being mounted after ${limitMs} ms (${marker} exists)`);
    }
    await sleep(DATA_PENDING_POLL_MS, undefined, { signal }).catch(() => {}); // an abort is seen above
  } while (await present(marker));
  return Date.now() - started;
}
