// A .deb's files, unpacked once and cached by the sha256 of the package: `dpkg-deb -x` (no root needed) extracts
// data.tar only, so no maintainer script ever runs. Shared by the OS build and the publisher.
import { run } from '../core/proc.js';
import { cachedDir, sha256File } from './cache.js';

/** The directory holding the package's files (read-only by convention: it is shared by every build). */
export async function unpackDeb(deb: string): Promise<string> {
  const { sha256 } = await sha256File(deb);
  return cachedDir('unpacked', sha256, async (dir) => {
    await run('dpkg-deb', ['-x', deb, dir]);
  });
}
