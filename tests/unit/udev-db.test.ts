// What this file proves: the display app's udev database tags a keyboard, a relative mouse and QEMU's USB tablet
// (an absolute pointer with buttons) as udev's input_id would, from the capability bitmaps the kernel prints (hex
// words of an unsigned long, most significant first, without zero padding); a device with no such capabilities or
// whose capabilities cannot be read gets no entry; DRM nodes get none. Without these entries libinput ignores every
// input device in the container ("not tagged as supported input device").
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inputProperties, parseBitmap, udevDatabase } from '../../bootos/src/agent/runtime/udev-db.js';
import { tempDir } from '../support/registry.js';

// As a Debian 6.1 guest under QEMU prints them (AT keyboard, USB tablet) and a USB mouse.
const KEYBOARD = { ev: '120013', key: '402000000 3803078f800d001 feffffdfffefffff fffffffffffffffe', rel: '0', abs: '0' };
const TABLET = { ev: '1f', key: '70000 0 0 0 0', rel: '900', abs: '3' };
const MOUSE = { ev: '17', key: '1f0000 0 0 0 0', rel: '903', abs: '0' };
const POWER_BUTTON = { ev: '3', key: '10000000000000 0', rel: '0', abs: '0' };

const caps = (c: Record<'ev' | 'key' | 'rel' | 'abs', string>) => ({ ev: parseBitmap(c.ev), key: parseBitmap(c.key), rel: parseBitmap(c.rel), abs: parseBitmap(c.abs) });

test('bitmaps: words are 64 bits each whatever their printed width', (t) => {
  t.is(parseBitmap('1 0'), 1n << 64n);
  t.is(parseBitmap('70000 0 0 0 0') >> 0x110n, 7n);
  t.is(parseBitmap(''), 0n);
});

test('a keyboard, a mouse and an absolute tablet are tagged as input_id would; a power button is a key set', (t) => {
  t.deepEqual(inputProperties(caps(KEYBOARD)), ['ID_INPUT', 'ID_INPUT_KEYBOARD', 'ID_INPUT_KEY']);
  t.deepEqual(inputProperties(caps(MOUSE)), ['ID_INPUT', 'ID_INPUT_MOUSE']);
  t.deepEqual(inputProperties(caps(TABLET)), ['ID_INPUT', 'ID_INPUT_MOUSE']);
  t.deepEqual(inputProperties(caps(POWER_BUTTON)), ['ID_INPUT', 'ID_INPUT_KEY']);
  t.deepEqual(inputProperties(caps({ ev: '0', key: '0', rel: '0', abs: '0' })), []);
});

test('the database has one entry per tagged evdev node, named c<major>:<minor>, and none for DRM nodes', async (t) => {
  const sys = await tempDir();
  const add = async (name: string, c: Record<string, string>) => {
    const dir = join(sys, 'class', 'input', name, 'device', 'capabilities');
    await mkdir(dir, { recursive: true });
    for (const [k, v] of Object.entries(c)) await writeFile(join(dir, k), `${v}\n`);
  };
  await add('event0', KEYBOARD);
  await add('event1', TABLET);
  await add('event2', { ev: '1', key: '0', rel: '0', abs: '0' });
  const db = await udevDatabase(
    [
      { path: '/dev/dri/card0', major: 226, minor: 0, gid: 44 },
      { path: '/dev/input/event0', major: 13, minor: 64, gid: 105 },
      { path: '/dev/input/event1', major: 13, minor: 65, gid: 105 },
      { path: '/dev/input/event2', major: 13, minor: 66, gid: 105 },
      { path: '/dev/input/event3', major: 13, minor: 67, gid: 105 }, // no sysfs entry
    ],
    sys,
  );
  t.deepEqual([...db.keys()], ['c13:64', 'c13:65']);
  t.is(db.get('c13:64'), 'I:1\nE:ID_INPUT=1\nE:ID_INPUT_KEYBOARD=1\nE:ID_INPUT_KEY=1\nG:seat\nQ:seat\nV:1\n');
  t.regex(db.get('c13:65')!, /^E:ID_INPUT_MOUSE=1$/m);
});
