// The one clock of reproducible builds: every file time in an app layer and in the OS image is SOURCE_DATE_EPOCH
// (reproducible-builds.org), 2024-01-01T00:00:00Z when it is not set. Not 0: the OS image's FAT partition (the ESP)
// cannot hold dates before 1980.
import { BootosError } from './error.js';

export const DEFAULT_SOURCE_DATE_EPOCH = 1_704_067_200;

/** SOURCE_DATE_EPOCH from the environment, in whole seconds, or the default. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return DEFAULT_SOURCE_DATE_EPOCH;
  if (!/^\d+$/.test(text)) throw new BootosError('USAGE', `SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got ${text}`);
  return Number(text);
}
