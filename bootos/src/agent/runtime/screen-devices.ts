// The screen and input devices that the display app (the profile entry with `display: true`) gets, and no other
// app: every DRM node (/dev/dri/card*, /dev/dri/renderD*) and every evdev node (/dev/input/event*) present when it
// starts. runc makes each node inside the container's own /dev (owner root, group video or input, mode 0660) and the
// device cgroup allows exactly those major:minor pairs, read-write, no mknod; the app's user gets the two groups as
// supplementary groups. Nothing else of the host's /dev is visible. docs/security.md, "The display app".
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../../../../fetcher/src/core/error.js';

/** The groups that own the nodes inside the display container (Debian's video; input has no fixed id in Debian). */
export const VIDEO_GID = 44;
export const INPUT_GID = 105;

export interface DeviceNode {
  /** Path inside the container, the same as on the host. */
  path: string;
  major: number;
  minor: number;
  /** The group that owns the node in the container (VIDEO_GID or INPUT_GID). */
  gid: number;
}

/** major and minor of a device number as Linux encodes it (glibc's gnu_dev_major/gnu_dev_minor). */
export function splitDeviceNumber(rdev: number): { major: number; minor: number } {
  const n = BigInt(rdev);
  const major = Number(((n >> 8n) & 0xfffn) | ((n >> 32n) & ~0xfffn));
  const minor = Number((n & 0xffn) | ((n >> 12n) & ~0xffn));
  return { major, minor };
}

/** The character devices under `dir` whose name matches, sorted; a missing folder is none. */
async function nodes(dir: string, pattern: RegExp, gid: number, devRoot: string): Promise<DeviceNode[]> {
  let names: string[];
  try {
    names = await readdir(join(devRoot, dir));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: DeviceNode[] = [];
  for (const name of names.filter((n) => pattern.test(n)).sort()) {
    const st = await stat(join(devRoot, dir, name)).catch(() => null);
    if (!st?.isCharacterDevice()) continue;
    out.push({ path: `/dev/${dir}/${name}`, ...splitDeviceNumber(st.rdev), gid });
  }
  return out;
}

/** The DRM and evdev nodes present now. `devRoot` is /dev except in tests. */
export async function screenDevices(devRoot = '/dev'): Promise<DeviceNode[]> {
  return [
    ...(await nodes('dri', /^(card|renderD)\d+$/, VIDEO_GID, devRoot)),
    ...(await nodes('input', /^event\d+$/, INPUT_GID, devRoot)),
  ];
}

/** Does the device have a screen (a DRM card node)? The display app starts at boot only then. */
export function hasScreen(devices: readonly DeviceNode[]): boolean {
  return devices.some((d) => /^\/dev\/dri\/card\d+$/.test(d.path));
}
