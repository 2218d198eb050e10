// Canonical JSON: the exact bytes that signatures cover.
// Object keys sorted by UTF-16 code unit order, no insignificant whitespace, strings escaped as JSON.stringify does,
// numbers restricted to safe integers so that no two encoders disagree on a float's text.
import { BootosError } from './error.js';

export function canonicalize(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new BootosError('JSON_INVALID', `canonical JSON allows only safe integers, got ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalize((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  throw new BootosError('JSON_INVALID', `canonical JSON cannot encode a ${typeof value}`);
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}
