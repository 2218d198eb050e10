// The OS updater's small parts without a disk: entry file names and boot counters, the order systemd-boot boots
// bootos's entries in (fetcher/src/formats/boot-entry.ts), OS versions, the channel's os entry as untrusted JSON,
// `bootos.slot=` on the kernel command line.
import test from 'ava';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { Reader } from '../../fetcher/src/core/guard.js';
import { bootOrder, entryFileName, formatEntry, parseEntry, parseEntryName, withSlot, type OrderedEntry } from '../../fetcher/src/formats/boot-entry.js';
import { compareOsVersions, OS_VERSION, readChannelOs } from '../../fetcher/src/formats/os-release.js';
import { configFromCmdline } from '../../bootos/src/agent/config.js';
import { fatLabel } from '../../bootos/src/agent/os/esp-device.js';

test('entry file names: with and without a boot counter, and nothing else is a slot', (t) => {
  t.like(parseEntryName('bootos-a.conf'), { slot: 'a', triesLeft: null, triesDone: 0 });
  t.like(parseEntryName('bootos-b+3.conf'), { slot: 'b', triesLeft: 3, triesDone: 0 });
  t.like(parseEntryName('bootos-b+0-3.conf'), { slot: 'b', triesLeft: 0, triesDone: 3 });
  for (const other of ['bootos.conf', 'bootos-c.conf', '.tmp-bootos-b+3.conf', 'bootos-a.conf.bak', 'debian.conf', 'bootos-a+.conf']) t.is(parseEntryName(other), null, other);
  t.is(entryFileName('b', { left: 3 }), 'bootos-b+3.conf');
  t.is(entryFileName('a', { left: 1, done: 2 }), 'bootos-a+1-2.conf');
  t.is(entryFileName('a'), 'bootos-a.conf');
});

test('an entry round-trips, always carries its own bootos.slot=, and a foreign entry is ESP_INVALID', (t) => {
  const text = formatEntry({ slot: 'b', version: '2.1', options: 'console=ttyS0 bootos.slot=a quiet' });
  t.regex(text, /^options console=ttyS0 quiet bootos\.slot=b$/m);
  t.regex(text, /^sort-key bootos$/m);
  t.deepEqual(parseEntry(text, 'b', 'x'), { slot: 'b', version: '2.1', options: 'console=ttyS0 quiet bootos.slot=b' });
  t.is(withSlot('  a  b ', 'a'), 'a b bootos.slot=a');
  const err = t.throws(() => parseEntry(text, 'a', 'bootos-a.conf'));
  t.true(isBootosError(err, 'ESP_INVALID'), 'slot a pointing at /bootos-b/ files');
  t.true(isBootosError(t.throws(() => parseEntry('title x\nlinux /vmlinuz\n', 'a', 'x')), 'ESP_INVALID'));
  t.throws(() => formatEntry({ slot: 'a', version: '1', options: 'a\nb' }));
});

test("systemd-boot's order: the newest version first, an entry with no tries left last", (t) => {
  const entry = (file: string, version: string): OrderedEntry => {
    const name = parseEntryName(file)!;
    return { name, entry: { slot: name.slot, version, options: '' } };
  };
  const first = (...entries: OrderedEntry[]) => bootOrder(entries)[0]!.name.file;
  t.is(first(entry('bootos-a.conf', '1'), entry('bootos-b+3.conf', '2')), 'bootos-b+3.conf');
  t.is(first(entry('bootos-a.conf', '1'), entry('bootos-b+1-2.conf', '2')), 'bootos-b+1-2.conf');
  t.is(first(entry('bootos-a.conf', '1'), entry('bootos-b+0-3.conf', '2')), 'bootos-a.conf', 'used up: fallback');
  t.is(first(entry('bootos-a+3.conf', '3'), entry('bootos-b.conf', '2')), 'bootos-a+3.conf', 'slot a again, newer');
  t.is(first(entry('bootos-a.conf', '10'), entry('bootos-b.conf', '9')), 'bootos-a.conf', 'numbers, not text');
  t.is(first(entry('bootos-a.conf', '2026.12.1'), entry('bootos-b.conf', '2026.9.30')), 'bootos-a.conf');
});

test('OS versions: dotted numbers compared number by number', (t) => {
  for (const good of ['0', '7', '2026.12.1', '1.0.0.3']) t.true(OS_VERSION.test(good), good);
  for (const bad of ['', 'v2', '1.', '01', '1.2.3.4.5', '1-rc1', ' 1']) t.false(OS_VERSION.test(bad), bad);
  t.true(compareOsVersions('10', '9') > 0);
  t.true(compareOsVersions('1.10', '1.9') > 0);
  t.is(compareOsVersions('2', '2.0'), 0);
  t.true(compareOsVersions('2026.1', '2026.1.1') < 0);
});

test("the channel's os entry: strict fields, OCI architectures, at least one", (t) => {
  const read = (value: unknown) => readChannelOs(new Reader('DOCUMENT_TYPE', 'channel'), value, 'signed.os');
  const image = { digest: `sha256:${'a'.repeat(64)}`, size: 10 };
  t.deepEqual(read({ version: '2', images: { amd64: image } }), { version: '2', images: { amd64: image } });
  for (const [bad, field] of [
    [{ version: 'two', images: { amd64: image } }, /signed\.os\.version/],
    [{ version: '2', images: {} }, /signed\.os\.images: names no architecture/],
    [{ version: '2', images: { x86_64: image } }, /x86_64/],
    [{ version: '2', images: { amd64: { ...image, size: 0 } } }, /size/],
    [{ version: '2', images: { amd64: image }, kernel: 'x' }, /kernel/],
  ] as const) {
    const err = t.throws(() => read(bad));
    t.true(isBootosError(err, 'DOCUMENT_TYPE'));
    t.regex(err!.message, field);
  }
});

test('bootos.slot= on the kernel command line: the disk slot, and the ESP under runDir; without it neither', (t) => {
  t.like(configFromCmdline('bootos.registry=http://x/ bootos.slot=b'), { bootSlot: 'b', espDir: '/run/bootos/esp' });
  t.like(configFromCmdline('bootos.registry=http://x/'), { bootSlot: null, espDir: null });
  t.true(isBootosError(t.throws(() => configFromCmdline('bootos.registry=http://x/ bootos.slot=c')), 'CONFIG_INVALID'));
});

test('a FAT label is read only from a FAT boot sector', (t) => {
  t.is(fatLabel(Buffer.alloc(512)), null);
  t.is(fatLabel(Buffer.alloc(100)), null);
  const sector = Buffer.alloc(512);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  sector[66] = 0x29;
  sector.write('BOOTOS-EFI ', 71, 'latin1');
  sector.write('FAT32   ', 82, 'latin1');
  t.is(fatLabel(sector), 'BOOTOS-EFI');
  sector.write('NTFS    ', 82, 'latin1');
  t.is(fatLabel(sector), null);
});
