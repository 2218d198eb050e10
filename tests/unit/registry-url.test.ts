// Proves: one grammar of registry locations (fetcher/src/formats/registry-url.ts) for the CLI, the agent's config and
// the QEMU harness: OCI URLs, static HTTP(S) URLs, directories where allowed; a HOST:PORT without a scheme and an
// unknown scheme are refused with a hint, never taken for a directory.
import test from 'ava';
import { configFromCmdline, configFromJson } from '../../bootos/src/agent/config.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { parseRegistryLocation } from '../../fetcher/src/formats/registry-url.js';

const accepted: [string, 'oci' | 'http' | 'dir'][] = [
  ['oci://registry.example.com/bootos', 'oci'],
  ['oci+http://10.0.2.2:5000/acme/bootos', 'oci'],
  ['http://10.0.2.2:8080/', 'http'],
  ['https://registry.example.com/fleet/', 'http'],
  ['reg', 'dir'],
  ['/srv/bootos/registry', 'dir'],
];

for (const [text, kind] of accepted) {
  test(`accepts ${text} as ${kind}`, (t) => {
    t.is(parseRegistryLocation(text).kind, kind);
  });
}

const refused: [string, RegExp][] = [
  ['127.0.0.1:8080', /write http:\/\/127\.0\.0\.1:8080\//],
  ['localhost:5000/bootos', /write http:\/\/localhost:5000\/bootos/],
  ['ftp://x/', /unknown scheme ftp/],
  ['oci://x/', /needs a namespace/],
  ['oci://x/UPPER', /invalid namespace/],
  // HOST/PATH that is no directory here: a URL without its scheme, not a directory that never appears
  ['registry.example.com/bootos', /no scheme and is not a directory: write http:\/\/registry\.example\.com\/bootos\/ or oci:\/\/registry\.example\.com\/bootos, or \.\/registry\.example\.com\/bootos/],
  ['10.0.2.2/reg', /write http:\/\/10\.0\.2\.2\/reg\//],
  ['localhost/reg/', /write http:\/\/localhost\/reg\/ or/],
];

for (const [text, hint] of refused) {
  test(`refuses ${text} with a hint`, (t) => {
    const err = t.throws(() => parseRegistryLocation(text));
    t.true(isBootosError(err, 'USAGE'));
    t.regex(err!.message, hint);
  });
}

test('a device accepts every URL form openSource accepts, and no directory', (t) => {
  for (const url of ['oci+http://10.0.2.2:5000/bootos', 'oci://registry.example.com/bootos', 'http://10.0.2.2:8080/']) {
    t.is(configFromCmdline(`bootos.registry=${url}`).registry, url);
    t.is(configFromJson({ registry: url }, 'a.json', '/etc/x').registry, url);
  }
  const dir = t.throws(() => configFromCmdline('bootos.registry=/srv/registry'));
  t.true(isBootosError(dir, 'CONFIG_INVALID'));
  const noScheme = t.throws(() => configFromCmdline('bootos.registry=10.0.2.2:8080'));
  t.regex(noScheme!.message, /write http:\/\/10\.0\.2\.2:8080\//);
});

test('HOST/PATH is a directory when one is there, or when written ./HOST/PATH', (t) => {
  t.deepEqual(parseRegistryLocation('registry.example.com/bootos', { isDirectory: (p) => p === 'registry.example.com/bootos' }), { kind: 'dir', path: 'registry.example.com/bootos' });
  t.is(parseRegistryLocation('./registry.example.com/bootos', { isDirectory: () => false }).kind, 'dir');
  t.is(parseRegistryLocation('images.old', { isDirectory: () => false }).kind, 'dir', 'a name with a dot but no path is a directory');
  // a device has no directories: the hint is the URL alone
  const err = t.throws(() => parseRegistryLocation('registry.example.com/bootos', { directories: false, isDirectory: () => true }));
  t.notRegex(err!.message, /new directory/);
  // agent.json: relative to the file's folder
  const config = t.throws(() => configFromJson({ registry: 'registry.example.com/bootos' }, 'a.json', '/nonexistent'));
  t.true(isBootosError(config, 'CONFIG_INVALID'));
  t.regex(config!.message, /^a\.json: registry: registry\.example\.com\/bootos has no scheme/);
});
