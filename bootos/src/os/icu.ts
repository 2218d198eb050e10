// The ICU data compiled into the Node binary (the exported symbol icudt<version>_dat, a "CmnD" common data
// package of ~4,300 items, 33 MB for ICU 78), trimmed to English: the locale bundles of every other language, the
// legacy charset converters, transliterators, spell-out rules, character names, spoof data and the break-iterator
// dictionaries are removed with Debian's icupkg, and the smaller package is written back over the original at the
// same offset, zero-padded to the same length, so no other byte of the binary moves (the zeros compress away).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootosError } from '../../../fetcher/src/core/error.js';
import { findDynamicSymbol } from './elf.js';
import { run } from '../../../fetcher/src/core/proc.js';

/** Names the trimmed result in cache keys: change it whenever what is removed changes. */
export const ICU_SMALL_TAG = 'icu-small-2';

/** The exported symbol holding the ICU data (the number is ICU's major version). */
export const ICU_SYMBOL = /^icudt\d+_dat$/;

/** A locale bundle of any tree (af.res, coll/de_.res, zone/sr_Latn_BA.res); not root, pool or res_index. */
const LOCALE_BUNDLE = /^[a-z]{2,3}(_[A-Za-z0-9_]*)?\.res$/;
const ENGLISH = /^en(_[A-Za-z0-9_]*)?\.res$/;
const DROPPED_TREES = ['translit/', 'rbnf/'];
const DROPPED_ITEMS = ['unames.icu', 'confusables.cfu'];

export interface IcuPackage {
  /** The ToC prefix of every item (icudt78l). */
  prefix: string;
  /** Item names without the prefix (root.res, coll/en.res, brkitr/word.brk), in ToC order. */
  items: string[];
}

/**
 * Reads an ICU common data package's header and table of contents (ICU's udata.h DataHeader and ucmndata.h
 * UDataOffsetTOC): a little-endian, ASCII "CmnD" package whose item names and offsets stay inside `data`.
 */
export function readIcuPackage(data: Buffer, what: string): IcuPackage {
  const bad = (why: string): never => {
    throw new BootosError('OS_TREE_INVALID', `${what}: not an ICU data package (${why})`);
  };
  if (data.length < 24 || data[2] !== 0xda || data[3] !== 0x27) bad('no DataHeader magic');
  const headerSize = data.readUInt16LE(0);
  const infoSize = data.readUInt16LE(4);
  if (infoSize < 20 || 4 + infoSize > headerSize || headerSize + 4 > data.length) bad('header size');
  if (data[8] !== 0 || data[9] !== 0) bad('not little-endian ASCII data');
  if (data.toString('latin1', 12, 16) !== 'CmnD' || data[16] !== 1) bad('data format is not CmnD version 1');
  const toc = data.subarray(headerSize);
  const count = toc.readUInt32LE(0);
  if (count === 0 || 4 + count * 8 > toc.length) bad('table of contents out of bounds');
  const names: string[] = [];
  let lastData = 0;
  for (let i = 0; i < count; i++) {
    const nameOffset = toc.readUInt32LE(4 + i * 8);
    const dataOffset = toc.readUInt32LE(8 + i * 8);
    const end = toc.indexOf(0, nameOffset);
    if (nameOffset >= toc.length || end < 0) bad(`item ${i} name out of bounds`);
    if (dataOffset < lastData || dataOffset >= toc.length) bad(`item ${i} data out of bounds`);
    lastData = dataOffset;
    names.push(toc.toString('latin1', nameOffset, end));
  }
  const prefix = names[0]!.split('/')[0]!;
  const items = names.map((n) => (n.startsWith(`${prefix}/`) ? n.slice(prefix.length + 1) : bad(`item ${n} is not under ${prefix}/`)));
  if (items.some((n) => !/^[A-Za-z0-9._/-]+$/.test(n))) bad('unexpected item name');
  return { prefix, items };
}

/**
 * What the small ICU data drops, in two icupkg passes: first everything whose removal must leave every remaining
 * item's dependencies in place (checked by icupkg), then the break-iterator dictionaries, which brkitr/root.res
 * names but ICU treats as optional (without them a CJK, Thai, Lao, Khmer or Burmese run is one word).
 */
export function icuItemsToRemove(items: string[]): { checked: string[]; dictionaries: string[] } {
  const checked = items.filter((item) => {
    const base = item.slice(item.lastIndexOf('/') + 1);
    if (DROPPED_TREES.some((t) => item.startsWith(t)) || DROPPED_ITEMS.includes(item) || item.endsWith('.cnv')) return true;
    return LOCALE_BUNDLE.test(base) && base !== 'res_index.res' && !ENGLISH.test(base);
  });
  const dictionaries = items.filter((item) => item.startsWith('brkitr/') && item.endsWith('.dict'));
  return { checked, dictionaries };
}

async function icupkg(args: string[]): Promise<void> {
  await run('icupkg', ['--auto_toc_prefix', ...args]).catch((err: unknown) => {
    const missing = err instanceof BootosError && /cannot run/.test(err.message);
    throw new BootosError('OS_TOOL_FAILED', missing ? `icupkg: cannot run; install the icu-devtools package` : (err as Error).message, { cause: err });
  });
}

/**
 * The Node binary with its ICU data trimmed to English, every other byte unchanged (same length, same layout).
 * Needs the section headers (.dynsym): trim before stripping. The same input gives the same bytes.
 */
export async function trimNodeIcu(binary: Buffer, what: string): Promise<Buffer> {
  const symbol = findDynamicSymbol(binary, ICU_SYMBOL, what);
  if (!symbol) throw new BootosError('OS_TREE_INVALID', `${what}: no ICU data symbol (icudt<version>_dat) in .dynsym (a stripped binary has none: trim before stripping)`);
  const data = binary.subarray(symbol.offset, symbol.offset + symbol.size);
  const { items } = readIcuPackage(data, `${what}: ${symbol.name}`);
  const { checked, dictionaries } = icuItemsToRemove(items);
  if (!checked.length && !dictionaries.length) return Buffer.from(binary); // already small

  const dir = await mkdtemp(join(tmpdir(), 'bootos-icu-'));
  try {
    let current = join(dir, 'full.dat');
    await writeFile(current, data);
    for (const [step, list, extra] of [
      ['checked', checked, []],
      ['dictionaries', dictionaries, ['--ignore-deps']],
    ] as const) {
      if (!list.length) continue;
      const listFile = join(dir, `${step}.txt`);
      const next = join(dir, `${step}.dat`);
      await writeFile(listFile, `${list.join('\n')}\n`);
      await icupkg([...extra, '-r', listFile, current, next]);
      current = next;
    }
    const small = await readFile(current);
    const removed = new Set([...checked, ...dictionaries]);
    const kept = items.filter((i) => !removed.has(i));
    let got: string[];
    try {
      got = readIcuPackage(small, 'icupkg output').items;
    } catch (err) {
      throw new BootosError('OS_TOOL_FAILED', (err as Error).message, { cause: err });
    }
    if (small.length > data.length || got.length !== kept.length || got.some((i, n) => i !== kept[n])) {
      throw new BootosError('OS_TOOL_FAILED', `icupkg: the trimmed ICU data (${small.length} bytes, ${got.length} items) is not the expected ${kept.length} items within ${data.length} bytes`);
    }
    const out = Buffer.from(binary);
    out.fill(0, symbol.offset, symbol.offset + symbol.size);
    small.copy(out, symbol.offset);
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
