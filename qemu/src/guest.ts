// A bootos guest: a built image (out/<arch>/ of `bootos build`) booted in QEMU the way a machine meets it — the
// kernel and initramfs directly, the UEFI disk image under OVMF/AAVMF, or the network (iPXE → HTTP) — with the
// bootos.* kernel arguments for a registry on the host, its API/kiosk and app ports forwarded to host loopback ports,
// and everything it started (QEMU, the PXE web server, temp files) stopped and removed by close().
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyDiskWithCmdline, readDiskCmdline } from '../../bootos/src/os/disk-cmdline.js';
import { BootosError, errnoCode } from '../../fetcher/src/core/error.js';
import { startServer } from '../../fetcher/src/publish/serve.js';
import { Qemu, type BootMode, type QemuArch, type QemuOptions } from './qemu.js';

export type GuestMode = 'direct' | 'uefi' | 'pxe';
export const GUEST_MODES: readonly GuestMode[] = ['direct', 'uefi', 'pxe'];

/** Slirp (QEMU user-mode networking) shows the host's loopback to the guest at this address. */
export const HOST_FROM_GUEST = '10.0.2.2';

/** The guest's API/kiosk port (bootos.api_port default). */
export const GUEST_API_PORT = 8080;

/** Boot-time budgets under TCG on 2 cores, before BOOTOS_TIMEOUT_FACTOR (aarch64 is emulated ~3x slower). */
/** /init's line once acpid listens for the power button. */
export const POWER_BUTTON_READY = /bootos-init: power button ready/;

export const READY_TIMEOUT_MS: Record<QemuArch, Record<GuestMode, number>> = {
  x86_64: { direct: 120_000, uefi: 180_000, pxe: 180_000 },
  aarch64: { direct: 300_000, uefi: 400_000, pxe: 400_000 },
};

export interface GuestOptions {
  arch: QemuArch;
  mode: GuestMode;
  /** out/<arch>/ of `bootos build`: vmlinuz, initramfs, cmdline, bootos-<arch>.img, pxe/. */
  imageDir: string;
  /** The registry as the host sees it; http://127.0.0.1:P/ and http://localhost:P/ become http://10.0.2.2:P/. */
  registry?: string;
  profile?: string;
  channel?: string;
  debug?: boolean;
  /** More kernel arguments. */
  cmdline?: string[];
  /** Host port for the guest's API/kiosk: a number, or 0 for any free one (default 0). */
  apiPort?: number;
  /**
   * A raw disk image with an ext4 filesystem labelled BOOTOS-DATA, on virtio: the guest's data root (kept between
   * boots). Direct and PXE boots only: the UEFI disk image has a data partition of its own.
   */
  dataDisk?: string;
  /**
   * UEFI boots: this disk image as it is, written by the guest and kept between boots (see `uefiDisk()`), instead of
   * a fresh copy of the built image.
   */
  disk?: string;
  /** Guest ports (apps' public ports) to forward, each to `hostPort` (0 or absent: any free one). */
  forward?: Array<{ guestPort: number; hostPort?: number }>;
  memoryMiB?: number;
  cpus?: number;
  console?: QemuOptions['console'];
  serialLog?: string;
  accel?: QemuOptions['accel'];
  /** A screen (virtio-gpu or std VGA) with a USB keyboard and tablet; none by default. */
  screen?: QemuOptions['screen'];
  /** Shows the screen to a person (QemuOptions.window). */
  window?: QemuOptions['window'];
}

/** A host loopback port: `preferred` when it is free (0: any). */
export async function freePort(preferred = 0): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        const { port: got } = s.address() as { port: number };
        s.close(() => resolve(got));
      });
    });
  if (preferred) {
    try {
      return await tryPort(preferred);
    } catch (err) {
      if (errnoCode(err) !== 'EADDRINUSE' && errnoCode(err) !== 'EACCES') throw err;
    }
  }
  return tryPort(0);
}

/** The registry URL as the guest reaches it. */
export function guestRegistryUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]') u.hostname = HOST_FROM_GUEST;
  return u.toString();
}

/** The bootos.* kernel arguments for these options (bootos.registry last: PXE sets it from the script). */
export function bootosArgs(o: Pick<GuestOptions, 'profile' | 'channel' | 'debug' | 'cmdline'>): string[] {
  const args: string[] = [];
  if (o.channel) args.push(`bootos.channel=${o.channel}`);
  if (o.profile) args.push(`bootos.profile=${o.profile}`);
  if (o.debug) args.push('bootos.debug=1');
  args.push(...(o.cmdline ?? []));
  for (const a of args) if (/\s/.test(a)) throw new BootosError('USAGE', `a kernel argument has no spaces: ${JSON.stringify(a)}`);
  return args;
}

/** The first-stage iPXE script served over TFTP: network settings for the bundle's boot.ipxe, then chain to it. */
export function pxeChainScript(bundleUrl: string, registry: string | undefined, args: string[]): string {
  return [
    '#!ipxe',
    '# bootos QEMU PXE (qemu/src/guest.ts): user-mode TFTP serves this; the kernel and initramfs come over HTTP.',
    ...(registry ? [`set registry ${registry}`] : []),
    ...(args.length ? [`set bootos-args ${args.join(' ')}`] : []),
    `chain ${bundleUrl}boot.ipxe || shell`,
    '',
  ].join('\n');
}

/**
 * Copies the built disk image of `o.imageDir` to `dest` with this guest's kernel arguments in slot a's loader entry
 * (and `osVersion` as its OS version when given): what a UEFI boot uses, made once by a caller that boots the same
 * disk several times (`disk`).
 */
export async function uefiDisk(o: GuestOptions, dest: string, osVersion?: string): Promise<string> {
  const image = join(o.imageDir, `bootos-${o.arch}.img`);
  const base = await readDiskCmdline(image).catch((err) => {
    throw errnoCode(err) === 'ENOENT' || /not found|No such file|Cannot open/i.test(String(err))
      ? new BootosError('FILE_NOT_FOUND', `${image} not found: build the image with its disk (bootos build --arch ${o.arch})`)
      : err;
  });
  const registry = o.registry ? guestRegistryUrl(o.registry) : undefined;
  await copyDiskWithCmdline(image, dest, [base, ...bootosArgs(o), ...(registry ? [`bootos.registry=${registry}`] : [])].join(' '), osVersion);
  return dest;
}

export class Guest {
  private closed = false;

  private constructor(
    readonly vm: Qemu,
    readonly options: GuestOptions,
    /** Host loopback port of the guest's API and kiosk. */
    readonly apiPort: number,
    private readonly ports: Map<number, number>,
    private readonly cleanups: Array<() => Promise<void>>,
  ) {}

  /** Boots the guest; resolves once QEMU runs (not once the OS is up: see ready()). */
  static async boot(o: GuestOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<Guest> {
    const cleanups: Array<() => Promise<void>> = [];
    const work = await mkdtemp(join(tmpdir(), 'bootos-guest-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    try {
      const registry = o.registry ? guestRegistryUrl(o.registry) : undefined;
      // With a data disk, /init waits for its BOOTOS-DATA filesystem (up to 10 s, as on the UEFI disk image) rather
      // than taking a tmpfs when the disk shows up a moment after its driver loads.
      const args = bootosArgs({ ...o, cmdline: [...(o.dataDisk ? ['bootos.data_wait=10'] : []), ...(o.cmdline ?? [])] });
      const dir = o.imageDir;
      let boot: BootMode;
      const disks: QemuOptions['disks'] = [];
      if (o.mode === 'direct') {
        const base = (await readFile(join(dir, 'cmdline'), 'utf8').catch(() => {
          throw new BootosError('FILE_NOT_FOUND', `${dir}/cmdline not found: build the image first (bootos build --arch ${o.arch})`);
        })).trim();
        boot = { mode: 'direct', kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initramfs'), cmdline: [base, ...args, ...(registry ? [`bootos.registry=${registry}`] : [])].join(' ') };
      } else if (o.mode === 'uefi') {
        // A copy of the disk image whose loader entry carries this guest's arguments; the built image is untouched.
        const disk = o.disk ?? (await uefiDisk(o, join(work, `bootos-${o.arch}.img`)));
        disks.push({ path: disk });
        boot = { mode: 'uefi' };
      } else {
        // iPXE (the NIC's option ROM) → DHCP and TFTP from slirp → this script → the bundle's boot.ipxe over HTTP.
        const http = await startServer({ dir: join(dir, 'pxe'), host: '127.0.0.1', port: 0, log: () => {} });
        cleanups.push(() => http.close());
        const port = new URL(http.url).port;
        const tftp = join(work, 'tftp');
        await mkdir(tftp, { recursive: true });
        await writeFile(join(tftp, 'bootos.ipxe'), pxeChainScript(`http://${HOST_FROM_GUEST}:${port}/`, registry, args));
        boot = { mode: 'pxe', tftpDir: tftp, bootFile: 'bootos.ipxe' };
      }
      if (o.dataDisk) {
        if (o.mode === 'uefi') throw new BootosError('USAGE', 'a data disk is for direct and PXE boots: the UEFI disk image has its own BOOTOS-DATA partition');
        disks.push({ path: o.dataDisk });
      }
      const apiPort = await freePort(o.apiPort ?? 0);
      if (o.apiPort && apiPort !== o.apiPort) log(`qemu: host port ${o.apiPort} is taken: the kiosk is on ${apiPort}`);
      const ports = new Map<number, number>();
      for (const f of o.forward ?? []) {
        const host = await freePort(f.hostPort ?? 0);
        if (f.hostPort && host !== f.hostPort) log(`qemu: host port ${f.hostPort} is taken: guest port ${f.guestPort} is on ${host}`);
        ports.set(f.guestPort, host);
      }
      const vm = await Qemu.start(
        {
          arch: o.arch,
          boot,
          disks,
          memoryMiB: o.memoryMiB ?? 1024,
          cpus: o.cpus,
          accel: o.accel,
          screen: o.screen,
          window: o.window,
          console: o.console,
          serialLog: o.serialLog,
          hostfwd: [{ hostPort: apiPort, guestPort: GUEST_API_PORT }, ...[...ports].map(([guestPort, hostPort]) => ({ hostPort, guestPort }))],
        },
        log,
      );
      cleanups.push(() => vm.close());
      return new Guest(vm, o, apiPort, ports, cleanups);
    } catch (err) {
      for (const c of cleanups.reverse()) await c().catch(() => {});
      throw err;
    }
  }

  /** http://127.0.0.1:<port>/ of the guest's API and kiosk. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}/`;
  }

  /** The host port that reaches a forwarded guest port. */
  hostPort(guestPort: number): number {
    const p = guestPort === GUEST_API_PORT ? this.apiPort : this.ports.get(guestPort);
    if (p === undefined) throw new BootosError('USAGE', `guest port ${guestPort} is not forwarded`);
    return p;
  }

  url(guestPort: number, path = '/'): string {
    return `http://127.0.0.1:${this.hostPort(guestPort)}${path}`;
  }

  /** Waits for the agent's ready line on the serial console. */
  async ready(timeoutMs = READY_TIMEOUT_MS[this.options.arch][this.options.mode]): Promise<void> {
    await this.vm.expect(/bootos-agent: ready/, timeoutMs);
  }

  /** GET of the guest's API through hostfwd (read-only: the agent takes state changes from its own loopback only). */
  async api<T = unknown>(path: string): Promise<T> {
    const res = await fetch(new URL(path, this.apiUrl), { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new BootosError('HTTP_ERROR', `GET ${path}: ${res.status}`);
    return (await res.json()) as T;
  }

  /**
   * The power button (QMP system_powerdown): init stops the agent and its apps, syncs and powers off. Pressed once
   * /init says acpid listens (it starts in the background, possibly after the agent's ready line).
   */
  async powerdown(timeoutMs = this.options.arch === 'aarch64' ? 90_000 : 60_000): Promise<number | null> {
    await this.vm.expect(POWER_BUTTON_READY, timeoutMs);
    return this.vm.powerdown(timeoutMs);
  }

  /** Stops QEMU if it still runs and everything else this guest started. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.cleanups.reverse()) await c().catch(() => {});
  }
}

