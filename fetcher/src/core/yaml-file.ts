// The one YAML reader (image.yaml, profiles.yaml, bootos.yaml): strict, duplicate keys refused, every error naming
// its file. What comes out is `unknown`, for a guard (core/guard.ts) to check field by field.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { BootosError, errnoCode } from './error.js';

export function parseYamlText(text: string, where: string): unknown {
  try {
    return parse(text, { strict: true, uniqueKeys: true });
  } catch (err) {
    throw new BootosError('YAML_INVALID', `${where}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads and parses `file`; a missing one is FILE_NOT_FOUND with `hint` (what the file is for). */
export async function readYamlFile(file: string, hint: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new BootosError('FILE_NOT_FOUND', `${file} not found: ${hint}`);
    throw err;
  }
  return parseYamlText(text, file);
}
