// Proves: a device takes only a manifest that names its own platform, and whose config agrees. An index entry
// without a platform is not taken as "any" (it was, before bootos images carried one config per platform), and an
// amd64 entry leading to an arm64 config is refused; both PLATFORM_NOT_FOUND, nothing unpacked.
import test from 'ava';
import { pullImage } from '../../fetcher/src/store/pull.js';
import { DirSource } from '../../fetcher/src/source/dir-source.js';
import { Store } from '../../fetcher/src/store/store.js';
import { Trust } from '../../fetcher/src/trust/trust.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { publishRawImage } from '../support/raw-image.js';
import { makeRegistry, tempDir } from '../support/registry.js';
import { storeLeftovers } from '../support/sandbox.js';
import { makeTarGz } from '../support/make-tar.js';

async function pullWith(options: { platform?: string | null; configArchitecture?: 'amd64' | 'arm64' }) {
  const registry = await makeRegistry();
  await publishRawImage(registry.dir, 'odd', [makeTarGz([{ path: 'app/run', body: '#!/bin/sh\n', mode: 0o755 }])], options);
  await registry.sign({ office: ['odd'] });
  const source = new DirSource(registry.dir);
  const trust = await Trust.open({ initialRoot: registry.rootBytes });
  const channel = await trust.fetchChannel(source, 'stable');
  const storeDir = await tempDir('bootos-platform-store-');
  const store = new Store(storeDir);
  const result = await pullImage({ source, store, channel: channel.signed, image: 'odd', arch: 'x86_64' }).then(
    (r) => ({ ok: r, err: null }),
    (err: unknown) => ({ ok: null, err }),
  );
  return { ...result, storeDir, cleanup: () => registry.cleanup() };
}

test('an index entry without a platform is refused', async (t) => {
  const run = await pullWith({ platform: null });
  t.teardown(run.cleanup);
  t.true(isBootosError(run.err, 'PLATFORM_NOT_FOUND'), String(run.err));
  t.deepEqual(await storeLeftovers(run.storeDir), []);
});

test('an amd64 entry whose config says arm64 is refused', async (t) => {
  const run = await pullWith({ platform: 'amd64', configArchitecture: 'arm64' });
  t.teardown(run.cleanup);
  t.true(isBootosError(run.err, 'PLATFORM_NOT_FOUND'), String(run.err));
  t.regex((run.err as Error).message, /leads to a config for linux\/arm64/);
});

test('the matching platform and config are taken', async (t) => {
  const run = await pullWith({});
  t.teardown(run.cleanup);
  t.is(run.err, null, String(run.err));
  t.is(run.ok!.config.architecture, 'amd64');
});
