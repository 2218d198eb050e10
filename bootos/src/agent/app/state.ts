// What an app is, as the rest of the agent sees it: its states (the state machine is drawn in app.ts), the actions
// the API can ask of it, the error it shows, and what it needs from the agent (AppContext).
import type { ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { PulledImage, PullProgress } from '../../../../fetcher/src/store/pull.js';
import type { ResolvedImage } from '../../../../fetcher/src/trust/resolve.js';
import type { AgentConfig } from '../config.js';
import type { Bind, Runc } from '../runtime/runc.js';
import type { DeviceNode } from '../runtime/screen-devices.js';
import type { Pin } from '../update/journal.js';

export type { AppAction, AppState } from '../api/states.js';

export interface AppError {
  code: ErrorCode;
  message: string;
  exitCode?: number;
  logTail?: string[];
  at: string;
}

/** What an app needs from the agent. */
export interface AppContext {
  config: AgentConfig;
  runc: Runc;
  /** Unique per agent run: keeps container ids and cgroups apart from other agents on the machine. */
  agentId: string;
  /** Pulls the image that `pin` names (verified by digest from the channel that pinned it). */
  pull(image: string, pin: Pin, onProgress: (p: PullProgress) => void): Promise<PulledImage>;
  /** An instance of this pin became ready and serves (the updater remembers the version that last served well). */
  served(app: string, pin: Pin): void;
  isCached(manifestDigest: string): Promise<boolean>;
  /** The app's /data volume mounted (made first, of `sizeBytes`, if missing); resolves with its folder. */
  dataVolume(app: string, sizeBytes: number): Promise<string>;
  /**
   * The version that last served well here, if it differs from `failed` and is still in the store: what the app
   * starts on when `failed` (the channel's newer version) cannot be pulled.
   */
  cachedFallback(app: string, failed: Pin): Promise<{ resolved: ResolvedImage; pin: Pin; pulled: PulledImage } | null>;
  /** The app started on `fallback` because `failed` could not be pulled: its update is tried again later. */
  fellBack(app: string, failed: Pin, fallback: Pin, error: { code: ErrorCode; message: string }): void;
  runtimeBinds(): Promise<Bind[]>;
  /** The display app is starting with these screen and input nodes (the agent watches them for the home key). */
  screenDevices(devices: readonly DeviceNode[]): void;
  /** Has the display app's kiosk its event stream open to the API from `address` (the display app's health)? */
  screenUp(address: string): boolean;
  changed(): void;
  step(app: string, message: string): void;
}
