// `bootos qemu`: boots a built image (out/<arch>/ of `bootos build`) in QEMU with the serial console on this terminal.
// Ctrl-A X quits QEMU at once (its own escape); Ctrl-C (or SIGINT/SIGTERM without a terminal) presses the power
// button, so init stops the agent and its apps and powers off cleanly.
import { resolve } from 'node:path';
import { defineCommand, status, usageError } from '../../fetcher/src/cli/kit.js';
import { BootosError } from '../../fetcher/src/core/error.js';
import { Guest, GUEST_MODES, type GuestMode } from './guest.js';
import { chooseWindow, describeWindow } from './window.js';
import { parseRegistryLocation } from '../../fetcher/src/formats/registry-url.js';
import { ARCHES, type Arch as QemuArch } from '../../fetcher/src/core/arch.js';

/** The sample images' public ports (images/*: hello, calc, notes), forwarded to the same host ports when free. */
export const SAMPLE_APP_PORTS = [8081, 8082, 8083];

function port(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw usageError(`${what} must be a port number, got ${text}`);
  return Number(text);
}

/**
 * Runs until QEMU exits. On a terminal: raw mode, every key goes to the guest's serial console except Ctrl-C, which
 * powers off. Without one: SIGINT and SIGTERM power off. A second Ctrl-C (or signal) stops QEMU at once.
 */
export async function attachConsole(guest: Guest, say: (line: string) => void = status): Promise<number | null> {
  const vm = guest.vm;
  let presses = 0;
  const powerOff = () => {
    presses++;
    if (presses === 1) {
      say('\r\nbootos qemu: powering off (the power button); Ctrl-C again stops QEMU at once');
      guest.powerdown().catch(() => void vm.close());
    } else void vm.close();
  };
  const stdin = process.stdin;
  const tty = stdin.isTTY && vm.stdin !== null;
  const onData = (chunk: Buffer) => {
    if (chunk.includes(0x03)) return powerOff();
    vm.stdin?.write(chunk);
  };
  if (tty) {
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  }
  process.on('SIGINT', powerOff);
  process.on('SIGTERM', powerOff);
  try {
    return await vm.wait();
  } finally {
    process.off('SIGINT', powerOff);
    process.off('SIGTERM', powerOff);
    if (tty) {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
    }
  }
}

export const qemuCommand = defineCommand({
  name: 'qemu',
  summary: 'boot a built image in QEMU (direct kernel, UEFI disk or PXE) with its console on this terminal',
  usage: '--arch x86_64|aarch64 --mode direct|uefi|pxe [--registry URL] [--profile NAME] [--image DIR] [--display]',
  options: {
    arch: { type: 'string' },
    mode: { type: 'string' },
    registry: { type: 'string' },
    profile: { type: 'string' },
    channel: { type: 'string' },
    image: { type: 'string' },
    'api-port': { type: 'string' },
    forward: { type: 'string', multiple: true },
    memory: { type: 'string' },
    cmdline: { type: 'string', multiple: true },
    debug: { type: 'boolean' },
    display: { type: 'boolean' },
  },
  help: {
    arch: `guest architecture: ${ARCHES.join(' or ')} (default x86_64)`,
    mode: 'direct: QEMU loads vmlinuz + initramfs; uefi: bootos-<arch>.img under UEFI firmware; pxe: iPXE → HTTP (default direct)',
    registry: 'registry URL as this machine sees it (http(s)://, oci://, oci+http://); 127.0.0.1/localhost become 10.0.2.2 for the guest (default http://127.0.0.1:8080/)',
    profile: 'device profile (bootos.profile; default: the agent\'s, office)',
    channel: 'channel (bootos.channel; default stable)',
    image: 'folder of the built image (default out/<arch>, as written by bootos build)',
    'api-port': 'host port for the kiosk and API (default 8080, or a free one when taken)',
    forward: `guest app port to forward, GUEST or GUEST:HOST; repeat (default ${SAMPLE_APP_PORTS.join(', ')} to the same ports)`,
    memory: 'guest memory in MiB (default 1024; 2048 with --display)',
    cmdline: 'one more kernel argument; repeat',
    debug: 'bootos.debug=1: init and agent say more, and a shell runs on the console',
    display: 'give the guest a screen (virtio-gpu, USB keyboard and tablet) and show it: a QEMU window on a desktop, else VNC on 127.0.0.1:5900 (the profile\'s display app draws the kiosk there)',
  },
  details: `The QEMU command line is printed first so that it can be pasted into a shell. KVM is used when /dev/kvm
runs a guest, TCG otherwise (BOOTOS_QEMU_ACCEL=tcg|kvm forces one). Firmware comes from the Debian packages ovmf,
qemu-efi-aarch64 and ipxe-qemu. Apps' "Open" links in the kiosk work when their ports are forwarded to the same
host ports. Ctrl-A X quits QEMU at once; Ctrl-C powers the guest off cleanly.`,
  async run(values) {
    const arch = (values.arch ?? 'x86_64') as QemuArch;
    if (!ARCHES.includes(arch)) throw usageError(`--arch must be one of ${ARCHES.join(', ')}, got ${values.arch}`);
    const mode = (values.mode ?? 'direct') as GuestMode;
    if (!GUEST_MODES.includes(mode)) throw usageError(`--mode must be one of ${GUEST_MODES.join(', ')}, got ${values.mode}`);
    const registry = values.registry ?? 'http://127.0.0.1:8080/';
    parseRegistryLocation(registry, { directories: false });
    const memory = values.memory === undefined ? (values.display ? 2048 : 1024) : Number(values.memory);
    if (!Number.isInteger(memory) || memory < 256) throw usageError(`--memory is MiB, at least 256, got ${values.memory}`);
    const forward = (values.forward ?? SAMPLE_APP_PORTS.map(String)).map((f) => {
      const [g, h] = f.split(':');
      return { guestPort: port(g ?? '', '--forward'), hostPort: h === undefined ? port(g ?? '', '--forward') : port(h, '--forward') };
    });
    const window = values.display ? await chooseWindow(arch) : undefined;
    const guest = await Guest.boot({
      arch,
      mode,
      screen: window ? 'virtio' : undefined,
      window,
      imageDir: resolve(values.image ?? `out/${arch}`),
      registry,
      profile: values.profile,
      channel: values.channel,
      debug: values.debug,
      cmdline: values.cmdline,
      apiPort: values['api-port'] === undefined ? 8080 : port(values['api-port'], '--api-port'),
      forward,
      memoryMiB: memory,
      console: 'stdio',
    });
    try {
      status(`bootos qemu: kiosk and API at ${guest.apiUrl} once the agent is ready; apps: ${forward.map((f) => `${f.guestPort} → ${guest.url(f.guestPort)}`).join(', ')}`);
      if (window) status(`bootos qemu: ${describeWindow(window)}`);
      status('bootos qemu: Ctrl-C powers off cleanly, Ctrl-A X quits QEMU at once');
      const code = await attachConsole(guest);
      if (code !== 0) {
        const why = guest.vm.stderrText.trim();
        throw new BootosError('QEMU_EXITED', `QEMU exited with ${code}${why ? `: ${why}` : ''}`);
      }
    } finally {
      await guest.close();
    }
  },
});
