// What an app is, as the rest of the agent sees it: its states (the state machine is drawn in app.ts), the actions
// the API can ask of it, the error it shows, and what it needs from the agent (AppContext).
import type { ErrorCode } from '../../../../fetcher/src/core/error.js';
import type { PulledImage, PullProgress } from '../../../../fetcher/src/store/pull.js';
import type { AgentConfig } from '../config.js';
import type { Bind, Runc } from '../runtime/runc.js';
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
  runtimeBinds(): Promise<Bind[]>;
  changed(): void;
  step(app: string, message: string): void;
}
