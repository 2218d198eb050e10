// What this file proves: the docs match the code — docs/errors.md is what scripts/errors-doc.ts makes of the table of
// codes in fetcher/src/core/error.ts, so it lists every code (with its kind, HTTP status and meaning) and no other.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ERROR_CODES } from '../../fetcher/src/core/error.js';
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
