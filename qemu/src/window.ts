// Where a person sees a guest's screen (`bootos qemu --display`, `npm run demo -- --display`): a GTK window when
// this machine has a desktop ($DISPLAY or $WAYLAND_DISPLAY) and QEMU's GTK module (Debian's qemu-system-gui), else
// a VNC server on 127.0.0.1 only (no password: never on the LAN), on the first free display from :0 (port 5900).
import { spawnSync } from 'node:child_process';
import { freePort } from './guest.js';
import { ARCH_TABLE } from '../../fetcher/src/core/arch.js';
import type { QemuArch, QemuOptions } from './qemu.js';

export type Window = NonNullable<QemuOptions['window']>;

/** Does this QEMU list `gtk` among its displays (its module installed)? */
function hasGtk(arch: QemuArch): boolean {
  const r = spawnSync(ARCH_TABLE[arch].qemu, ['-display', 'help'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && /^gtk$/m.test(r.stdout ?? '');
}

export async function chooseWindow(arch: QemuArch, env: NodeJS.ProcessEnv = process.env): Promise<Window> {
  if ((env.DISPLAY || env.WAYLAND_DISPLAY) && hasGtk(arch)) return { kind: 'gtk' };
  for (let n = 0; n < 100; n++) if ((await freePort(5900 + n)) === 5900 + n) return { kind: 'vnc', vncDisplay: n };
  throw new Error('no free VNC port from 5900 to 5999 on 127.0.0.1');
}

/** What to tell the person. */
export function describeWindow(w: Window): string {
  return w.kind === 'gtk' ? 'the screen is in a QEMU window' : `the screen is on VNC at 127.0.0.1:${5900 + w.vncDisplay} (vnc://127.0.0.1:${5900 + w.vncDisplay}, e.g. vncviewer 127.0.0.1:${w.vncDisplay})`;
}
