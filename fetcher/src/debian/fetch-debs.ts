// Pinned .debs into the input cache: each one downloaded only when its sha256 is not cached yet, and committed only
// after its sha256 and size matched the pin (verify, then commit: cache.ts).
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DebPin } from '../formats/deb-pin.js';
import { Apt, OS_LOCK, type LockRef } from './apt.js';
import { cachedBlob, commitBlob } from './cache.js';

/** The cached path of every pinned package, by name; `lock` names the lockfile in an OS_PIN_GONE message. */
export async function fetchDebs(
  pins: Record<string, DebPin>,
  debArch: string,
  options: { lock?: LockRef; progress?: (line: string) => void } = {},
): Promise<Record<string, string>> {
  const apt = new Apt(debArch);
  const paths: Record<string, string> = {};
  for (const [name, pin] of Object.entries(pins)) {
    let path = await cachedBlob(pin.sha256);
    if (!path) {
      options.progress?.(`fetch ${debArch}: apt-get download ${name}=${pin.version}`);
      const file = await apt.download(name, pin.version, options.lock ?? OS_LOCK);
      try {
        path = await commitBlob(file, pin, `${name} ${pin.version} (${debArch})`);
      } finally {
        await rm(dirname(file), { recursive: true, force: true });
      }
    }
    paths[name] = path;
  }
  return paths;
}
