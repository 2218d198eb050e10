// The udev database entries of the display app's input devices. The device runs no udev daemon, but libinput (in
// cage's wlroots and in cog's DRM platform) takes an evdev node only when udev tagged it: its database entry
// (/run/udev/data/c<major>:<minor>) must carry ID_INPUT=1 and the kind (ID_INPUT_KEYBOARD, ID_INPUT_MOUSE, ...),
// else it logs "not tagged as supported input device" and the screen has no keyboard and no mouse. These entries
// are what udev's input_id builtin would have written, worked out from the capability bitmaps the kernel shows in
// /sys/class/input/eventN/device/capabilities. The agent writes them into the container's bundle, bound read-only
// at /run/udev of the display app alone. Devices plugged in later are not seen until the display app restarts.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { DeviceNode } from './screen-devices.js';

// linux/input-event-codes.h
const EV_KEY = 0x01;
const EV_REL = 0x02;
const EV_ABS = 0x03;
const REL_X = 0x00;
const REL_Y = 0x01;
const ABS_X = 0x00;
const ABS_Y = 0x01;
const BTN_LEFT = 0x110;
const BTN_TOOL_PEN = 0x140;
const BTN_TOOL_FINGER = 0x145;
const BTN_TOUCH = 0x14a;
const BTN_STYLUS = 0x14b;

/** A capabilities file (hex words of an unsigned long, the most significant first) as one big bitmap. */
export function parseBitmap(text: string): bigint {
  const words = text.trim().split(/\s+/).filter(Boolean);
  let bits = 0n;
  for (const word of words) bits = (bits << 64n) | BigInt(`0x${word}`);
  return bits;
}

const has = (bits: bigint, bit: number) => ((bits >> BigInt(bit)) & 1n) === 1n;

export interface Capabilities {
  ev: bigint;
  key: bigint;
  rel: bigint;
  abs: bigint;
}

/** The ID_INPUT_* properties udev's input_id gives a device with these capabilities (none: not an input device). */
export function inputProperties(c: Capabilities): string[] {
  const props: string[] = [];
  const keys = has(c.ev, EV_KEY);
  // A keyboard has the first 31 keys (Esc, digits, the top letter row...), as input_id tests it.
  if (keys && (c.key & 0xfffffffen) === 0xfffffffen) props.push('ID_INPUT_KEYBOARD', 'ID_INPUT_KEY');
  else if (keys && (c.key & ((1n << BigInt(BTN_LEFT)) - 1n)) !== 0n) props.push('ID_INPUT_KEY');
  const xy = (bits: bigint, x: number, y: number) => has(bits, x) && has(bits, y);
  if (has(c.ev, EV_REL) && xy(c.rel, REL_X, REL_Y) && has(c.key, BTN_LEFT)) props.push('ID_INPUT_MOUSE');
  if (has(c.ev, EV_ABS) && xy(c.abs, ABS_X, ABS_Y)) {
    if (has(c.key, BTN_STYLUS) || has(c.key, BTN_TOOL_PEN)) props.push('ID_INPUT_TABLET');
    else if (has(c.key, BTN_TOUCH) && !has(c.key, BTN_TOOL_FINGER)) props.push('ID_INPUT_TOUCHSCREEN');
    else if (has(c.key, BTN_TOOL_FINGER)) props.push('ID_INPUT_TOUCHPAD');
    // An absolute pointer with buttons: QEMU's USB tablet, a virtual machine's mouse.
    else if (has(c.key, BTN_LEFT)) props.push('ID_INPUT_MOUSE');
  }
  return props.length ? ['ID_INPUT', ...new Set(props)] : [];
}

/**
 * The database files (name → content) for the evdev nodes among `devices`. A node whose capabilities cannot be
 * read or that is no keyboard, key set or pointer gets none, so libinput leaves it alone as udev would.
 */
export async function udevDatabase(devices: readonly DeviceNode[], sysRoot = '/sys'): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const d of devices) {
    if (!d.path.startsWith('/dev/input/event')) continue;
    const dir = join(sysRoot, 'class', 'input', basename(d.path), 'device', 'capabilities');
    const read = (name: string) => readFile(join(dir, name), 'utf8').then(parseBitmap, () => 0n);
    const props = inputProperties({ ev: await read('ev'), key: await read('key'), rel: await read('rel'), abs: await read('abs') });
    if (!props.length) continue;
    // I: marks it initialized; G/Q: the "seat" tag, which libinput's seat assignment looks for.
    const lines = ['I:1', ...props.map((p) => `E:${p}=1`), 'G:seat', 'Q:seat', 'V:1'];
    out.set(`c${d.major}:${d.minor}`, `${lines.join('\n')}\n`);
  }
  return out;
}

/** One line for the log: each node and what it was tagged as (`/dev/input/event2 keyboard`, `... untagged`). */
export function describeScreen(devices: readonly DeviceNode[], entries: ReadonlyMap<string, string>): string {
  if (!devices.length) return 'no devices';
  return devices
    .map((d) => {
      if (!d.path.startsWith('/dev/input/')) return d.path;
      const entry = entries.get(`c${d.major}:${d.minor}`);
      const kinds = entry ? [...entry.matchAll(/^E:ID_INPUT_(\w+)=1$/gm)].map((m) => m[1]!.toLowerCase()) : [];
      return `${d.path} ${kinds.length ? kinds.join('+') : 'untagged'}`;
    })
    .join(', ');
}
