// The one limits table: withLimits() merges and checks it, the agent's config (agent.json `limits`, kernel
// `bootos.limit.NAME=`) sets any of its fields, and what the agent builds from it (sources, the watcher) uses them.
import test from 'ava';
import { configFromCmdline, configFromJson } from '../../bootos/src/agent/config.js';
import { ChannelWatcher } from '../../bootos/src/agent/watcher.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { DEFAULT_LIMITS, LIMIT_NAMES, withLimits } from '../../fetcher/src/core/limits.js';
import { HttpSource } from '../../fetcher/src/source/http-source.js';
import { OciSource } from '../../fetcher/src/source/oci-source.js';
import { openSource } from '../../fetcher/src/source/open-source.js';
import type { RegistrySource } from '../../fetcher/src/source/source.js';
import type { Trust } from '../../fetcher/src/trust/trust.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isBootosError(err) ? err.code : (err as Error).name;
  }
  return undefined;
}

test('withLimits: defaults, overrides, and a bad value named', (t) => {
  t.deepEqual(withLimits(), { ...DEFAULT_LIMITS });
  t.is(withLimits({ maxUnpackedBytes: 1024 }).maxUnpackedBytes, 1024);
  t.throws(() => withLimits({ maxRetries: 0 }), { instanceOf: TypeError, message: /^maxRetries must be a positive integer/ });
  t.throws(() => withLimits({ crashBackoffMinMs: 2, crashBackoffMaxMs: 1 }), { message: /crashBackoffMaxMs must be at least crashBackoffMinMs/ });
  t.throws(() => withLimits({ nope: 1 } as never), { message: /nope is not a limit/ });
  t.is(withLimits({ channelPollIntervalMs: 0, channelPollJitterMs: 0 }).channelPollIntervalMs, 0);
});

test('agent config: any limit from agent.json or the kernel command line, checked there', (t) => {
  const json = configFromJson({ registry: 'http://x/', limits: { maxUnpackedBytes: 4096, connectTimeoutMs: 1 } }, 'a.json', '/');
  t.like(json.limits, { maxUnpackedBytes: 4096, connectTimeoutMs: 1, stopGraceMs: DEFAULT_LIMITS.stopGraceMs });
  t.deepEqual(Object.keys(json.limits).sort(), [...LIMIT_NAMES].sort());
  const cmdline = configFromCmdline('bootos.registry=http://x/ bootos.limit.maxUnpackedBytes=8192 bootos.poll_seconds=20');
  t.like(cmdline.limits, { maxUnpackedBytes: 8192, channelPollIntervalMs: 20_000 });
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.limit.nope=1')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.limit.maxRetries=0')), 'CONFIG_INVALID');
  t.is(code(() => configFromCmdline('bootos.registry=http://x/ bootos.limit.maxRetries=-1')), 'CONFIG_INVALID');
  t.is(code(() => configFromJson({ registry: 'http://x/', limits: { maxEntries: 0 } }, 'a.json', '/')), 'CONFIG_INVALID');
});

test('sources opened with limits use them', (t) => {
  const http = openSource('http://127.0.0.1:1/', { limits: { connectTimeoutMs: 7 } });
  const oci = openSource('oci+http://127.0.0.1:1/ns', { limits: { connectTimeoutMs: 9, maxSmallBodyBytes: 10 } });
  try {
    t.is((http as HttpSource).transport.limits.connectTimeoutMs, 7);
    t.is((oci as OciSource).transport.limits.connectTimeoutMs, 9);
  } finally {
    http.close();
    oci.close();
  }
});

test('the watcher asks for the channel under the cap it was given', async (t) => {
  const caps: number[] = [];
  const source: RegistrySource = {
    location: 'fake',
    get: async () => null,
    blob: async function* () {},
    getIfChanged: async (_path: string, maxBytes: number) => {
      caps.push(maxBytes);
      return { changed: false as const, etag: null };
    },
    close: () => {},
  };
  let unchanged = 0;
  const watcher = new ChannelWatcher({
    source,
    trust: {} as Trust,
    channel: 'stable',
    maxChannelBytes: 1234,
    intervalMs: 0,
    jitterMs: 0,
    onChannel: async () => {},
    onError: (err) => t.fail(err.message),
    onUnchanged: () => unchanged++,
  });
  await watcher.poll();
  t.deepEqual(caps, [1234]);
  t.is(unchanged, 1);
});
