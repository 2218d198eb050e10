// Crash recovery of updates: at agent start, before an app runs, an update that a kill interrupted is finished from
// its journal. Before `switched` it rolls back, from `switched` on it rolls forward.
import { dirname } from 'node:path';
import type { AgentConfig } from '../config.js';
import type { AppRecord, JournalEntry, UpdateStore } from './journal.js';
import { dataFingerprint, dropSnapshot, removeProbeLeftovers, restoreData, snapshotPathOf } from './snapshot.js';

/**
 * At agent start, before the app runs: finishes an update that a kill interrupted. Before `switched` the old version
 * is what runs and /data goes back to the snapshot if it changed; from `switched` on the new version is kept with its
 * /data. Leftover snapshot folders are removed. Returns the app's record (current version, failed digests).
 */
export async function recoverUpdate(
  store: UpdateStore,
  config: AgentConfig,
  app: string,
  dataDir: string,
  log: (message: string) => void,
  /** Mounts the app's /data volume, if it has one, so that a restore goes into it. */
  mountData: () => Promise<boolean> = async () => false,
): Promise<AppRecord> {
  let journal: JournalEntry | null = null;
  try {
    journal = await store.readJournal(app);
  } catch (err) {
    log(`update journal unreadable (${(err as Error).message}): ignored`);
  }
  let record: AppRecord = { current: null, failed: {} };
  try {
    record = await store.readRecord(app);
  } catch (err) {
    log(`update record unreadable (${(err as Error).message}): starting afresh`);
  }
  const snapshot = snapshotPathOf(config, app);
  if (journal) {
    if (journal.step === 'switched' || journal.step === 'committed') {
      log(`update to ${journal.to.version} was interrupted after the switch: kept, with its /data`);
      record = { ...record, current: journal.to };
    } else {
      if (journal.snapshot && journal.fingerprint) {
        await mountData();
        const now = await dataFingerprint(dataDir);
        if (now !== journal.fingerprint) {
          await restoreData(journal.snapshot, dataDir);
          log('/data restored from the snapshot');
        }
      }
      record = { ...record, current: journal.from };
      if (journal.step === 'rolling-back' && journal.reason) {
        record = { ...record, failed: { ...record.failed, [journal.to.digest]: { version: journal.to.version, ...journal.reason, at: journal.at } } };
        log(`rollback from ${journal.to.version} finished (${journal.reason.code}): ${journal.from.version} is kept`);
      } else {
        log(`update to ${journal.to.version} was interrupted before the switch: rolled back to ${journal.from.version}`);
      }
    }
    await store.writeRecord(app, record);
  }
  await dropSnapshot(snapshot);
  await removeProbeLeftovers(dirname(snapshot));
  if (journal) await store.clearJournal(app);
  return record;
}
