// What this file proves: the docs match the code — docs/errors.md is what scripts/errors-doc.ts makes of the table of
// codes in fetcher/src/core/error.ts, so it lists every code (with its kind, HTTP status and meaning) and no other;
// docs/api.md's "Agent configuration" is what scripts/config-doc.ts makes of agent.json's fields and the limits table,
// and the defaults it states are the config readers' own.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CONFIG_FILE_FIELDS, configFromCmdline, configFromJson, type AgentConfig } from '../../bootos/src/agent/config.js';
import { ERROR_CODES } from '../../fetcher/src/core/error.js';
import { DEFAULT_LIMITS, LIMIT_NAMES, limitMinimum, limitUnit } from '../../fetcher/src/core/limits.js';
import { limitMeanings, renderConfigSection, withConfigSection } from '../../scripts/config-doc.js';
import { renderErrorsDoc } from '../../scripts/errors-doc.js';
import { REPO } from '../support/registry.js';

test('docs/errors.md lists every error code, and no code that does not exist', async (t) => {
  const text = await readFile(join(REPO, 'docs', 'errors.md'), 'utf8');
  const listed = [...text.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  for (const code of ERROR_CODES) t.true(listed.includes(code), `docs/errors.md misses ${code}`);
  for (const code of listed) t.true((ERROR_CODES as readonly string[]).includes(code!), `docs/errors.md lists unknown ${code}`);
});

test('docs/errors.md is up to date with the table (node --import tsx scripts/errors-doc.ts rewrites it)', async (t) => {
  const text = await readFile(join(REPO, 'docs', 'errors.md'), 'utf8');
  t.is(text, renderErrorsDoc());
  // The generator does fail on a table that moved: a code gone from the doc is a difference.
  t.not(text.replace(/^\| `DATA_ROOT_INVALID` \|.*\n/m, ''), renderErrorsDoc());
});

// docs/api.md, "Agent configuration": made from CONFIG_FILE_FIELDS (bootos/src/agent/config.ts) and the limits table
// (fetcher/src/core/limits.ts) by scripts/config-doc.ts; the defaults it states are the ones the readers produce.
const configDoc = async () => readFile(join(REPO, 'docs', 'api.md'), 'utf8');
const limitsSource = () => readFile(join(REPO, 'fetcher', 'src', 'core', 'limits.ts'), 'utf8');

test('docs/api.md lists every agent.json field and every limit as scripts/config-doc.ts makes them', async (t) => {
  const doc = await configDoc();
  const section = renderConfigSection(await limitsSource());
  t.true(doc.includes(section), 'docs/api.md is out of date: npm run docs:config');
  t.is(withConfigSection(doc, section), doc);
  for (const field of Object.keys(CONFIG_FILE_FIELDS)) t.regex(section, new RegExp(`^\\| \`${field}\` \\|`, 'm'), field);
  // Every limit with its unit, its default and the meaning its doc comment gives it.
  const meanings = limitMeanings(await limitsSource());
  for (const name of LIMIT_NAMES) {
    t.truthy(meanings.get(name), `${name} has no doc comment in limits.ts`);
    const row = new RegExp(`^\\| \`${name}\` \\| ${limitUnit(name).replace('/', '\\/')} \\| ${DEFAULT_LIMITS[name]}\\b.*\\| ${limitMinimum(name)} \\| \\S`, 'm');
    t.regex(section, row, name);
  }
  t.is([...section.matchAll(/^\| `(\w+)` \| (?:ms|bytes|bytes\/s|ratio|count) \|/gm)].length, LIMIT_NAMES.length);
});

test('the reader of agent.json knows exactly the documented fields', (t) => {
  for (const field of Object.keys(CONFIG_FILE_FIELDS)) {
    const err = t.throws(() => configFromJson({ registry: 'http://x/', [field]: [] }, 'agent.json', '/cfg'));
    t.regex(err!.message, new RegExp(`^agent\\.json: ${field}: (?!unknown field)`), field);
  }
  t.regex(t.throws(() => configFromJson({ registry: 'http://x/', colour: 1 }, 'agent.json', '/cfg'))!.message, /colour: unknown field/);
});

test('the defaults in the table are what --config and the kernel command line give', (t) => {
  const host = configFromJson({ registry: 'http://x/' }, 'agent.json', '/cfg');
  const device = configFromCmdline('bootos.registry=http://x/');
  // The AgentConfig value of each field (dataRoot is not kept: it is the folder of stateDir).
  const value = (c: AgentConfig, field: keyof typeof CONFIG_FILE_FIELDS): unknown =>
    ({ root: c.rootFile, init: c.initBinary, appDataRoot: c.dataRoot, dataRoot: dirname(c.stateDir) })[field as string] ?? c[field as keyof AgentConfig];
  let checked = 0;
  for (const [field, f] of Object.entries(CONFIG_FILE_FIELDS) as [keyof typeof CONFIG_FILE_FIELDS, (typeof CONFIG_FILE_FIELDS)[keyof typeof CONFIG_FILE_FIELDS]][]) {
    const hostText = f.host.replace('<folder>/<name>-data', '/cfg/agent-data').replace('<dataRoot>', '/cfg/agent-data');
    const deviceText = f.device.replace(/ \(`bootos\..*$/, '');
    if (!hostText.startsWith('(')) t.is(String(value(host, field)), hostText, `host default of ${field}`);
    if (!deviceText.startsWith('(')) t.is(String(value(device, field)), deviceText, `device default of ${field}`);
    checked++;
  }
  t.is(checked, Object.keys(CONFIG_FILE_FIELDS).length);
  // A host run never answers the LAN nor writes to the device's places; the device does.
  t.is(host.apiHost, '127.0.0.1');
  t.is(host.runDir, '/cfg/agent-data/run');
  t.is(device.appHost, '0.0.0.0');
  t.is(device.runDir, '/run/bootos');
  t.deepEqual(host.limits, DEFAULT_LIMITS);
  t.is(configFromJson({ registry: 'http://x/', dataRoot: 'var' }, 'lab.json', '/cfg').runDir, '/cfg/var/run', 'runDir follows dataRoot');
  t.is(configFromJson({ registry: 'http://x/' }, '/cfg/lab.json', '/cfg').storeDir, '/cfg/lab-data/store', 'named after the file');
});
