// Runs a hand-made layer through the real path (signed registry → Trust → pullImage → Store) inside a sandbox, and
// checks what a refused archive must leave: nothing outside the root changed, no root, no staging, no partial,
// and the layer blob not committed.
import type { ExecutionContext } from 'ava';
import { rm } from 'node:fs/promises';
import { isBootosError, type BootosError, type ErrorCode } from '../../fetcher/src/core/error.js';
import { pullImage, type PulledImage } from '../../fetcher/src/store/pull.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { Store } from '../../fetcher/src/store/store.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import type { Limits } from '../../fetcher/src/core/limits.js';
import { publishRawImage } from './raw-image.js';
import { makeRegistry } from './registry.js';
import { makeSandbox, storeLeftovers, type Sandbox } from './sandbox.js';

export interface ArchiveRun {
  sandbox: Sandbox;
  store: Store;
  layerDigests: string[];
  before: Map<string, string>;
  after: Map<string, string>;
  result?: PulledImage;
  error?: unknown;
  cleanup(): Promise<void>;
}

export async function pullArchive(layersFor: Buffer[] | ((sandbox: Sandbox) => Buffer[]), options: { allowSetuid?: boolean; limits?: Partial<Limits> } = {}): Promise<ArchiveRun> {
  const sandbox = await makeSandbox();
  const layers = typeof layersFor === 'function' ? layersFor(sandbox) : layersFor;
  const registry = await makeRegistry();
  const published = await publishRawImage(registry.dir, 'evil', layers, { allowSetuid: options.allowSetuid });
  await registry.sign({ office: ['evil'] });
  const source = new DirSource(registry.dir);
  const trust = await Trust.open({ initialRoot: registry.rootBytes });
  const channel = await trust.fetchChannel(source, 'stable');
  const store = new Store(sandbox.storeDir, options.limits);
  const before = await sandbox.snapshot();
  const run: Partial<ArchiveRun> = {};
  try {
    run.result = await pullImage({ source, store, channel: channel.signed, image: 'evil' });
  } catch (err) {
    run.error = err;
  }
  return {
    ...run,
    sandbox,
    store,
    layerDigests: published.layers.map((l) => l.digest),
    before,
    after: await sandbox.snapshot(),
    cleanup: async () => {
      await registry.cleanup();
      await rm(sandbox.base, { recursive: true, force: true });
    },
  };
}

/** The archive was refused with `code`, and nothing of it is left anywhere. */
export async function assertRefused(t: ExecutionContext, run: ArchiveRun, code: ErrorCode): Promise<void> {
  t.true(isBootosError(run.error, code), `expected ${code}, got ${(run.error as BootosError | undefined)?.code ?? run.error ?? 'success'}`);
  t.deepEqual([...run.after], [...run.before], 'nothing outside the extraction root changed');
  t.deepEqual(await storeLeftovers(run.sandbox.storeDir), [], 'no root, staging directory or partial download is left');
  for (const digest of run.layerDigests) t.false(await run.store.hasBlob(digest), 'the refused layer is not committed');
}
