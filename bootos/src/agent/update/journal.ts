// What the updater keeps on disk, in the agent's state directory, so that a kill at any moment ends in a state
// where one version serves and /data is the old data or the new version's, never a mix:
//   updates/<app>.journal.json  the step an update of the app has reached (written atomically before each step)
//   updates/<app>.json          the version the app last served well, and the digests that failed on this device
// Every file is written by writeFileAtomic (temp file, fsync, rename, fsync of the folder): a reader sees the
// previous copy or the new one. Files are read through guards: a damaged file is reported and ignored.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, syncDir } from '../../../../fetcher/src/core/fs.js';
import { ERROR_CODES, errnoCode, type ErrorCode } from '../../../../fetcher/src/core/error.js';
import { Reader, SHA256_DIGEST as DIGEST, parseJson } from '../../../../fetcher/src/core/guard.js';

/** An image as a channel pins it: what is needed to resolve and pull it again without the channel. */
export interface Pin {
  digest: string;
  size: number;
  version: string;
}

/**
 * The steps, in order. Before `switched` a recovery rolls back (the old version serves, /data is restored from the
 * snapshot if it changed); from `switched` on it rolls forward (the new version serves on its /data).
 */
export type JournalStep = 'preparing' | 'snapshotted' | 'switched' | 'committed' | 'rolling-back';

export interface JournalEntry {
  app: string;
  step: JournalStep;
  from: Pin;
  to: Pin;
  mode: 'signal' | 'exclusive' | 'none';
  /** The snapshot folder, once complete (renamed into place), else null. */
  snapshot: string | null;
  /** Fingerprint of the snapshot: /data equal to it was not touched. */
  fingerprint: string | null;
  /** Why it rolls back (step rolling-back). */
  reason: { code: ErrorCode; message: string } | null;
  at: string;
}

export interface FailedVersion {
  version: string;
  code: ErrorCode;
  message: string;
  at: string;
}

export interface AppRecord {
  /** The version that last served well (after a start or a completed update). */
  current: Pin | null;
  /** Digests that failed an update here, by digest: never tried again automatically. */
  failed: Record<string, FailedVersion>;
}

function readPin(r: Reader, value: unknown, path: string): Pin {
  const o = r.object(value, path, ['digest', 'size', 'version']);
  return {
    digest: r.required(o, 'digest', path, (v, p) => r.string(v, p, DIGEST)),
    size: r.required(o, 'size', path, (v, p) => r.integer(v, p, 1)),
    version: r.required(o, 'version', path, (v, p) => r.string(v, p)),
  };
}

function readCode(r: Reader, v: unknown, p: string): ErrorCode {
  return r.oneOf(v, p, ERROR_CODES);
}

export function readJournalEntry(value: unknown, where: string): JournalEntry {
  const r = new Reader('JSON_INVALID', where);
  const o = r.object(value, '', ['app', 'step', 'from', 'to', 'mode', 'snapshot', 'fingerprint', 'reason', 'at']);
  const reason = o.reason === null || o.reason === undefined ? null : r.object(o.reason, 'reason', ['code', 'message']);
  return {
    app: r.required(o, 'app', '', (v, p) => r.string(v, p)),
    step: r.required(o, 'step', '', (v, p) => r.oneOf(v, p, ['preparing', 'snapshotted', 'switched', 'committed', 'rolling-back'] as const)),
    from: r.required(o, 'from', '', (v, p) => readPin(r, v, p)),
    to: r.required(o, 'to', '', (v, p) => readPin(r, v, p)),
    mode: r.required(o, 'mode', '', (v, p) => r.oneOf(v, p, ['signal', 'exclusive', 'none'] as const)),
    snapshot: o.snapshot === null || o.snapshot === undefined ? null : r.string(o.snapshot, 'snapshot'),
    fingerprint: o.fingerprint === null || o.fingerprint === undefined ? null : r.string(o.fingerprint, 'fingerprint'),
    reason: reason
      ? { code: r.required(reason, 'code', 'reason', (v, p) => readCode(r, v, p)), message: r.required(reason, 'message', 'reason', (v, p) => r.string(v, p)) }
      : null,
    at: r.required(o, 'at', '', (v, p) => r.string(v, p)),
  };
}

export function readAppRecord(value: unknown, where: string): AppRecord {
  const r = new Reader('JSON_INVALID', where);
  const o = r.object(value, '', ['current', 'failed']);
  const failedObject = o.failed === undefined ? {} : r.object(o.failed, 'failed');
  const failed: Record<string, FailedVersion> = {};
  for (const [digest, item] of Object.entries(failedObject)) {
    const p = `failed.${digest}`;
    if (!DIGEST.test(digest)) r.fail(p, 'expected a sha256 digest');
    const f = r.object(item, p, ['version', 'code', 'message', 'at']);
    failed[digest] = {
      version: r.required(f, 'version', p, (v, q) => r.string(v, q)),
      code: r.required(f, 'code', p, (v, q) => readCode(r, v, q)),
      message: r.required(f, 'message', p, (v, q) => r.string(v, q)),
      at: r.required(f, 'at', p, (v, q) => r.string(v, q)),
    };
  }
  return { current: o.current === null || o.current === undefined ? null : readPin(r, o.current, 'current'), failed };
}

/** The updater's files for every app, under <stateDir>/updates. */
export class UpdateStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'updates');
  }

  private journalPath(app: string): string {
    return join(this.dir, `${app}.journal.json`);
  }

  private recordPath(app: string): string {
    return join(this.dir, `${app}.json`);
  }

  async readJournal(app: string): Promise<JournalEntry | null> {
    const text = await readOptional(this.journalPath(app));
    return text === null ? null : readJournalEntry(parseJson(text, `${app} update journal`), `${app} update journal`);
  }

  /** Durable before it returns: the next step may only begin once this one is on disk. */
  async writeJournal(entry: JournalEntry): Promise<void> {
    await writeFileAtomic(this.journalPath(entry.app), `${JSON.stringify(entry, null, 2)}\n`, 0o600);
  }

  async clearJournal(app: string): Promise<void> {
    await rm(this.journalPath(app), { force: true });
    await syncDir(this.dir).catch(() => {});
  }

  async readRecord(app: string): Promise<AppRecord> {
    const text = await readOptional(this.recordPath(app));
    return text === null ? { current: null, failed: {} } : readAppRecord(parseJson(text, `${app} update record`), `${app} update record`);
  }

  async writeRecord(app: string, record: AppRecord): Promise<void> {
    await writeFileAtomic(this.recordPath(app), `${JSON.stringify(record, null, 2)}\n`, 0o600);
  }
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}
