// Proves the path gate's rules one entry at a time, as a table: each row is a sequence of tar headers fed to one
// PathGate and what the last one must give — an admitted kind, or the coded refusal. The unpack attack files
// (tests/attacks/unpack-*.test.ts) prove the same rules end to end on disk; this table covers them in milliseconds.
import test from 'ava';
import { isBootosError, type ErrorCode } from '../../fetcher/src/core/error.js';
import { withLimits } from '../../fetcher/src/core/limits.js';
import { PathGate, type EntryHeader } from '../../fetcher/src/store/path-gate.js';

type H = Partial<EntryHeader> & { name: string };
const file = (name: string, size = 1): H => ({ name, type: 'file', size });
const dir = (name: string): H => ({ name, type: 'directory' });
const link = (name: string, linkname: string): H => ({ name, type: 'symlink', linkname });
const hard = (name: string, linkname: string): H => ({ name, type: 'link', linkname });

const rows: [title: string, headers: H[], expect: string][] = [
  ['a plain file', [file('app/a')], 'file'],
  ['a directory', [dir('app/')], 'directory'],
  ['./ prefixes and doubled slashes', [file('./app//a')], 'file'],
  ['the root directory entry', [dir('./')], 'skip'],
  ['a pax global header', [{ name: 'pax_global_header', type: 'pax-global-header' }], 'skip'],
  ['a relative symlink inside', [file('usr/bin/x'), link('bin', 'usr/bin')], 'symlink'],
  ['an absolute symlink (resolved in the root)', [link('app/x', '/usr/bin/x')], 'symlink'],
  ['a hardlink to an extracted file', [file('a'), hard('b', 'a')], 'hardlink'],
  ['a whiteout', [file('a'), { name: '.wh.a', type: 'file' }], 'whiteout'],
  ['an opaque whiteout', [file('d/a'), { name: 'd/.wh..wh..opq', type: 'file' }], 'opaque'],
  ['a .. component', [file('app/../../etc/passwd')], 'UNPACK_PATH_TRAVERSAL'],
  ['an absolute path', [file('/etc/passwd')], 'UNPACK_ABSOLUTE_PATH'],
  ['a NUL byte', [file('app/a\0b')], 'UNPACK_PATH_INVALID'],
  ['a path over PATH_MAX', [file(`a/${'x'.repeat(5000)}`)], 'UNPACK_PATH_TOO_LONG'],
  ['a path too deep', [file(`${'d/'.repeat(200)}f`)], 'UNPACK_PATH_TOO_DEEP'],
  ['a name over NAME_MAX (255 bytes)', [file(`app/${'n'.repeat(256)}`)], 'UNPACK_PATH_TOO_LONG'],
  ['a name of exactly 255 bytes', [file(`app/${'n'.repeat(255)}`)], 'file'],
  ['a character device', [{ name: 'dev/null', type: 'character-device' }], 'skip'],
  ['a block device', [{ name: 'dev/sda', type: 'block-device' }], 'skip'],
  ['a FIFO', [{ name: 'app/fifo', type: 'fifo' }], 'skip'],
  ['an unknown entry type', [{ name: 'app/x', type: 'gnu-sparse' as never }], 'UNPACK_ENTRY_TYPE'],
  ['a symlink above the root', [link('app/out', '../../outside')], 'UNPACK_SYMLINK_ESCAPE'],
  ['an absolute symlink climbing with ..', [link('app/out', '/../outside')], 'UNPACK_SYMLINK_ESCAPE'],
  ['a write through a symlink', [link('app', '/tmp'), file('app/x')], 'UNPACK_THROUGH_SYMLINK'],
  ['a file under a file', [file('a'), file('a/b')], 'UNPACK_NOT_A_DIRECTORY'],
  ['a symlink replacing a directory', [dir('app/'), link('app', '/etc')], 'UNPACK_REPLACES_DIRECTORY'],
  ['a directory replacing a file', [file('app'), dir('app/')], 'UNPACK_NOT_A_DIRECTORY'],
  ['a hardlink to nothing extracted', [hard('a', 'etc/shadow')], 'UNPACK_HARDLINK_MISSING'],
  ['a hardlink with ..', [hard('a', '../etc/shadow')], 'UNPACK_HARDLINK_ESCAPE'],
  ['a hardlink with an absolute target', [hard('a', '/etc/shadow')], 'UNPACK_HARDLINK_ESCAPE'],
  ['a whiteout naming nothing', [{ name: 'd/.wh.', type: 'file' }], 'UNPACK_PATH_INVALID'],
  ['a symlink with an empty target', [link('a', '')], 'UNPACK_PATH_INVALID'],
];

function run(headers: H[], limits = {}): string {
  const gate = new PathGate(withLimits(limits));
  let last = '';
  try {
    for (const h of headers) last = gate.admit(h as EntryHeader).kind;
    gate.checkLinks();
  } catch (err) {
    if (isBootosError(err)) return err.code;
    throw err;
  }
  return last;
}

for (const [title, headers, expect] of rows) {
  test(`${title} → ${expect}`, (t) => {
    t.is(run(headers), expect);
  });
}

test('entry count and unpacked bytes are capped', (t) => {
  t.is(run([file('a'), file('b'), file('c')], { maxEntries: 2 }), 'UNPACK_TOO_MANY_ENTRIES' satisfies ErrorCode);
  t.is(run([file('a', 600), file('b', 600)], { maxUnpackedBytes: 1000 }), 'UNPACK_TOO_LARGE' satisfies ErrorCode);
});

test('setuid and setgid bits are dropped unless the image allows them', (t) => {
  const mode = (allow: boolean) => {
    const admitted = new PathGate(withLimits(), allow).admit({ name: 'bin/x', type: 'file', size: 1, mode: 0o4755 });
    return admitted.kind === 'file' ? admitted.mode : -1;
  };
  t.is(mode(false), 0o755);
  t.is(mode(true), 0o4755);
});

test('content far beyond what the compressed bytes can hold is refused from the headers; honest ratios pass', (t) => {
  const gate = (compressed: number) => {
    const g = new PathGate(withLimits({ maxCompressionRatio: 100, compressionRatioFloorBytes: 1000 }));
    g.addCompressedBytes(compressed);
    return g;
  };
  const admit = (g: PathGate, size: number) => {
    try {
      return g.admit({ name: 'app/big', type: 'file', size }).kind;
    } catch (err) {
      return isBootosError(err) ? err.code : String(err);
    }
  };
  t.is(admit(gate(100), 100 * 100 + 1), 'UNPACK_TOO_LARGE', 'over 100× the compressed size');
  t.is(admit(gate(100), 100 * 100), 'file', 'exactly 100× passes');
  t.is(admit(gate(1), 999), 'file', 'below the floor the ratio is not checked');
  t.is(admit(new PathGate(withLimits({ compressionRatioFloorBytes: 1 })), 10 ** 6), 'file', 'no compressed size known: no ratio check');
});
