// Every timing and bound the kiosk uses, in one place, with units in the names.
export const KIOSK = {
  /** First wait before reconnecting /api/events after it drops; doubles up to the maximum. */
  reconnectFirstMs: 1_000,
  reconnectMaxMs: 15_000,
  /** How often the device panel (/api/device) is refreshed; it has no events of its own. */
  deviceRefreshMs: 10_000,
  /** How often countdowns ("retrying in 8 s", "stops in 42 s") are redrawn. */
  tickMs: 1_000,
  /** Longest wait, after "Open" started an app, for it to be running before going there anyway. */
  openWaitMs: 120_000,
  /** How long the bar of a download that just finished stays full (at least; it stays while the app starts). */
  progressDoneMs: 1_500,
  /** Step messages kept in the activity list. */
  activityLines: 8,
  /** Log lines shown under a failed app. */
  logTailLines: 12,
} as const;
