// A Debian package pinned by exact version, file name, size and sha256: the unit of bootos.lock.json (the OS image)
// and of image.lock.json (an image's `debian:` packages).
import type { Reader } from '../core/guard.js';

export interface DebPin {
  version: string;
  filename: string;
  size: number;
  sha256: string;
}

/** Debian policy's package name: lowercase letters, digits, + - . ; at least two characters, starting alphanumeric. */
export const DEB_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Reads `{ name: {version, filename, size, sha256}, … }` at `path`. */
export function readDebPins(r: Reader, value: unknown, path: string): Record<string, DebPin> {
  const out: Record<string, DebPin> = {};
  for (const [name, pin] of Object.entries(r.object(value, path))) {
    const q = `${path}.${name}`;
    if (!DEB_NAME.test(name)) r.fail(q, 'not a Debian package name');
    const o = r.object(pin, q, ['version', 'filename', 'size', 'sha256']);
    out[name] = {
      version: r.required(o, 'version', q, (y, s) => r.string(y, s, /^[A-Za-z0-9.+~:-]+$/, 'expected a Debian version')),
      filename: r.required(o, 'filename', q, (y, s) => r.string(y, s, /^[A-Za-z0-9.+~_:-]+\.deb$/)),
      size: r.required(o, 'size', q, (y, s) => r.integer(y, s, 1)),
      sha256: r.required(o, 'sha256', q, (y, s) => r.string(y, s, HEX64, 'expected 64 hex digits')),
    };
  }
  return out;
}
