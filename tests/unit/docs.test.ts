// What this file proves: the docs match the code — every error code is listed in docs/errors.md.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ERROR_CODES } from '../../fetcher/src/core/error.js';
import { REPO } from '../support/registry.js';

test('docs/errors.md lists every error code, and no code that does not exist', async (t) => {
  const text = await readFile(join(REPO, 'docs', 'errors.md'), 'utf8');
  const listed = [...text.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  for (const code of ERROR_CODES) t.true(listed.includes(code), `docs/errors.md misses ${code}`);
  for (const code of listed) t.true((ERROR_CODES as readonly string[]).includes(code!), `docs/errors.md lists unknown ${code}`);
});
