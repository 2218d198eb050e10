// Every bound the fetcher enforces, in one place, with units in the names.
// Callers pass a Partial<Limits>; withLimits() merges it over the defaults at the boundary.

export interface Limits {
  /** Largest root.json accepted from a registry. */
  maxRootBytes: number;
  /** Largest channels/NAME.json accepted from a registry. */
  maxChannelBytes: number;
  /** Largest OCI index or manifest blob accepted (these are parsed in memory). */
  maxManifestBytes: number;
  /** Largest image config blob accepted. */
  maxConfigBytes: number;
  /** Most root versions walked in one update (a registry could otherwise feed roots forever). */
  maxRootRotations: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxRootBytes: 512 * 1024,
  maxChannelBytes: 1024 * 1024,
  maxManifestBytes: 1024 * 1024,
  maxConfigBytes: 256 * 1024,
  maxRootRotations: 32,
};

export function withLimits(overrides: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${value}`);
  }
  return limits;
}
