// Typed options → a QEMU command line (printed so it can be pasted into a shell), a running VM with its serial
// console in a log file, expectations on that log (timeouts scaled by BOOTOS_TIMEOUT_FACTOR), clean poweroff
// through QMP (the ACPI power button), and cleanup of every process and temp file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootosError } from '../../fetcher/src/core/error.js';
import { ipxeRom, uefiFirmware } from './firmware.js';
import { Qmp } from './qmp.js';

import { ARCH_TABLE, hostArch, type Arch } from '../../fetcher/src/core/arch.js';

export type QemuArch = Arch;

export type BootMode =
  | { mode: 'direct'; kernel: string; initrd: string; cmdline: string }
  | { mode: 'uefi' }
  | { mode: 'pxe'; tftpDir: string; bootFile: string; uefi?: boolean };

export interface QemuOptions {
  arch: QemuArch;
  boot: BootMode;
  memoryMiB?: number;
  cpus?: number;
  /** 'auto' (default, or BOOTOS_QEMU_ACCEL): KVM when /dev/kvm really runs a guest of this arch, else TCG. */
  accel?: 'auto' | 'kvm' | 'tcg';
  /**
   * A screen: `virtio` (virtio-gpu-pci, both arches), `std` (QEMU's standard VGA, x86_64: the bochs DRM driver),
   * with a USB keyboard and tablet. QEMU still opens no window (-display none): QMP screendump reads the screen.
   */
  screen?: 'virtio' | 'std';
  /**
   * Shows the screen to a person: `gtk` (a window, where $DISPLAY or $WAYLAND_DISPLAY is set) or `vnc` (a VNC server
   * on 127.0.0.1:5900 + `vncDisplay`, loopback only). Default: none (QMP screendump still reads the screen).
   */
  window?: { kind: 'gtk' } | { kind: 'vnc'; vncDisplay: number };
  /**
   * Raw disk images on virtio-blk, or with `usb` as a USB stick (usb-storage on an xhci controller); the first one is
   * the UEFI boot disk. `snapshot` keeps the file unchanged.
   */
  disks?: Array<{ path: string; snapshot?: boolean; usb?: boolean }>;
  /** User-mode networking with these host loopback ports forwarded to guest ports. */
  hostfwd?: Array<{ hostPort: number; guestPort: number }>;
  /** Where the serial console is logged (a file); default: a temp file. */
  serialLog?: string;
  /**
   * 'file' (default): the serial console only goes to serialLog. 'stdio': it is also QEMU's stdin/stdout, with QEMU's
   * Ctrl-A escapes (Ctrl-A X quits, Ctrl-A C the monitor); the caller relays a terminal to `Qemu.stdin`.
   */
  console?: 'file' | 'stdio';
  /** Extra arguments appended as they are. */
  extraArgs?: string[];
}

const MACHINE: Record<QemuArch, { machine: string; cpu: string }> = {
  x86_64: { machine: 'q35', cpu: 'max' },
  aarch64: { machine: 'virt', cpu: 'max' },
};

/** Multiplies a timeout by BOOTOS_TIMEOUT_FACTOR (default 1) for slow machines. */
export function scaledTimeout(ms: number): number {
  const f = Number(process.env.BOOTOS_TIMEOUT_FACTOR ?? '1');
  return Number.isFinite(f) && f > 0 ? Math.round(ms * f) : ms;
}

let kvmProbe: boolean | undefined;

/**
 * Whether KVM really runs a guest here: /dev/kvm must be writable and a 64 KiB BIOS that switches to 32-bit protected
 * mode and then writes one byte to the debug port must get it out within 3 s. A present but unusable /dev/kvm hangs
 * instead; on one host it ran real-mode code (a byte written before the switch came out) and hung at the switch, as
 * Linux did right after "Probing EDD", so the probe goes as far as protected mode.
 */
export function kvmUsable(arch: QemuArch): boolean {
  const native = arch === hostArch();
  if (!native || arch !== 'x86_64') return false; // the probe BIOS is x86 code
  if (kvmProbe !== undefined) return kvmProbe;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return (kvmProbe = false);
  }
  const dir = spawnSync('mktemp', ['-d']).stdout.toString().trim();
  const bios = probeBios();
  spawnSync('sh', ['-c', `cat > ${dir}/bios.bin`], { input: bios });
  const r = spawnSync('qemu-system-x86_64', ['-accel', 'kvm', '-M', 'q35', '-cpu', 'host', '-m', '16', '-nodefaults', '-display', 'none', '-bios', `${dir}/bios.bin`, '-debugcon', 'stdio'], {
    timeout: 3000,
    killSignal: 'SIGKILL',
  });
  spawnSync('rm', ['-rf', dir]);
  return (kvmProbe = r.stdout?.toString().includes('P') ?? false);
}

/**
 * The probe's firmware: mapped at the top of 4 GiB (offset X at 0xFFFF0000 + X). The reset vector jumps to 16-bit
 * code that loads a flat GDT and sets CR0.PE, then far-jumps to 32-bit code that writes 'P' to port 0xe9 and halts.
 */
export function probeBios(): Buffer {
  const bios = Buffer.alloc(65536);
  const put = (offset: number, bytes: number[]) => Buffer.from(bytes).copy(bios, offset);
  put(0xf000, [
    0xfa, // cli
    0x66, 0x2e, 0x0f, 0x01, 0x16, 0x60, 0xf0, // lgdt dword cs:[0xf060]
    0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, // mov eax,cr0; or al,1; mov cr0,eax
    0x66, 0xea, 0x20, 0xf0, 0xff, 0xff, 0x08, 0x00, // jmp dword 0x08:0xfffff020
  ]);
  put(0xf020, [0xb0, 0x50, 0xe6, 0xe9, 0xf4, 0xeb, 0xfd]); // mov al,'P'; out 0xe9,al; hlt; jmp $-1
  put(0xf040, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9a, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x92, 0xcf, 0]); // null, code, data: flat 4 GiB
  put(0xf060, [0x17, 0x00, 0x40, 0xf0, 0xff, 0xff]); // the GDT's limit and base (0xfffff040)
  put(0xfff0, [0xe9, 0x0d, 0xf0]); // reset vector: jmp near 0xf000
  return bios;
}

export interface QemuCommand {
  bin: string;
  args: string[];
  /** Files the VM needs created before start (the UEFI variable store). */
  setup: Array<{ copy: string; to: string }>;
}

export function buildCommand(o: QemuOptions, paths: { serialLog: string; qmpSocket: string; workDir: string }): QemuCommand {
  const m = MACHINE[o.arch];
  const wanted = o.accel ?? (process.env.BOOTOS_QEMU_ACCEL as QemuOptions['accel']) ?? 'auto';
  const accel = wanted === 'kvm' || (wanted === 'auto' && kvmUsable(o.arch)) ? 'kvm' : 'tcg';
  const args = [
    '-machine', m.machine,
    '-accel', accel === 'kvm' ? 'kvm' : 'tcg,thread=multi',
    '-cpu', accel === 'kvm' ? 'host' : m.cpu,
    '-smp', String(o.cpus ?? 2),
    '-m', String(o.memoryMiB ?? 512),
    '-nodefaults', '-no-user-config', '-display', displayArg(o.window), '-no-reboot',
    ...(o.console === 'stdio'
      ? ['-chardev', `stdio,id=con0,mux=on,signal=off,logfile=${paths.serialLog}`, '-serial', 'chardev:con0', '-mon', 'chardev=con0,mode=readline']
      : ['-serial', `file:${paths.serialLog}`]),
    '-qmp', `unix:${paths.qmpSocket},server=on,wait=off`,
  ];
  const setup: QemuCommand['setup'] = [];
  const uefi = o.boot.mode === 'uefi' || (o.boot.mode === 'pxe' && (o.boot.uefi ?? o.arch === 'aarch64'));
  if (uefi) {
    const fw = uefiFirmware(o.arch);
    const vars = join(paths.workDir, 'efivars.fd');
    setup.push({ copy: fw.vars, to: vars });
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${fw.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  if (o.boot.mode === 'direct') args.push('-kernel', o.boot.kernel, '-initrd', o.boot.initrd, '-append', o.boot.cmdline);
  if (o.disks?.some((d) => d.usb)) args.push('-device', 'qemu-xhci,id=xhci');
  for (const [i, d] of (o.disks ?? []).entries()) {
    args.push('-drive', `if=none,id=disk${i},format=raw,file=${d.path}${d.snapshot ? ',snapshot=on' : ''}`);
    const boot = i === 0 && o.boot.mode === 'uefi' ? ',bootindex=0' : '';
    args.push('-device', d.usb ? `usb-storage,bus=xhci.0,drive=disk${i}${boot}` : `virtio-blk-pci,drive=disk${i}${boot}`);
  }
  const fwd = (o.hostfwd ?? []).map((f) => `,hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`).join('');
  const tftp = o.boot.mode === 'pxe' ? `,tftp=${o.boot.tftpDir},bootfile=${o.boot.bootFile}` : '';
  args.push('-netdev', `user,id=net0${fwd}${tftp}`);
  // Debian's iPXE ROMs carry the PCI id of a modern-only virtio NIC (1af4:1041); SeaBIOS runs a ROM only when the ids
  // match, and a transitional virtio-net-pci (the default on q35's root bus) is 1af4:1000.
  const nic = o.boot.mode === 'pxe' ? `,disable-legacy=on,romfile=${ipxeRom(uefi)},bootindex=0` : ',romfile=';
  args.push('-device', `virtio-net-pci,netdev=net0${nic}`);
  args.push('-device', 'virtio-rng-pci');
  if (o.screen) {
    args.push('-device', o.screen === 'std' ? 'VGA' : 'virtio-gpu-pci');
    args.push('-device', 'qemu-xhci,id=hidbus', '-device', 'usb-kbd,bus=hidbus.0', '-device', 'usb-tablet,bus=hidbus.0');
  }
  args.push(...(o.extraArgs ?? []));
  return { bin: ARCH_TABLE[o.arch].qemu, args, setup };
}

/** QEMU's -display: no window, a GTK window, or VNC on loopback (a password-less VNC is never on the LAN). */
function displayArg(window: QemuOptions['window']): string {
  if (!window) return 'none';
  if (window.kind === 'gtk') return 'gtk,zoom-to-fit=on';
  return `vnc=127.0.0.1:${window.vncDisplay}`;
}

/** The command as one line for a shell. */
export function shellLine(cmd: { bin: string; args: string[] }): string {
  const q = (s: string) => (/^[A-Za-z0-9_./:=,@+-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);
  return [cmd.bin, ...cmd.args].map(q).join(' ');
}

/** Every QEMU this process started and has not seen exit: killed if this process exits first (a crash, a kill). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class Qemu {
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;
  private qmp: Qmp | null = null;

  private constructor(
    readonly command: QemuCommand,
    readonly serialLog: string,
    private readonly qmpSocket: string,
    private readonly workDir: string,
    private readonly child: ChildProcess,
    private readonly stderr: Buffer[],
  ) {
    this.exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        live.delete(child);
        this.exitCode = code;
        resolve(code);
      });
    });
  }

  static async start(o: QemuOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<Qemu> {
    const workDir = await mkdtemp(join(tmpdir(), 'bootos-qemu-'));
    const serialLog = o.serialLog ?? join(workDir, 'serial.log');
    const qmpSocket = join(workDir, 'qmp.sock');
    const command = buildCommand(o, { serialLog, qmpSocket, workDir });
    for (const s of command.setup) await copyFile(s.copy, s.to);
    await writeFile(serialLog, '');
    log(`qemu: ${shellLine(command)}`);
    // Its own process group: a Ctrl-C on the terminal reaches this process (which powers the guest off), not QEMU.
    const child = spawn(command.bin, command.args, { stdio: o.console === 'stdio' ? ['pipe', 'inherit', 'pipe'] : ['ignore', 'ignore', 'pipe'], detached: true });
    live.add(child);
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (d: Buffer) => stderr.push(d));
    const vm = new Qemu(command, serialLog, qmpSocket, workDir, child, stderr);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (e) => reject(new BootosError('QEMU_EXITED', `${command.bin}: cannot run (${e.message}); install qemu-system`)));
    });
    return vm;
  }

  /** The serial console's input when started with console 'stdio' (null otherwise). */
  get stdin(): NodeJS.WritableStream | null {
    return this.child.stdin;
  }

  /** What QEMU wrote to stderr (its own errors, not the guest's). */
  get stderrText(): string {
    return Buffer.concat(this.stderr).toString();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  async log(): Promise<string> {
    return readFile(this.serialLog, 'utf8');
  }

  /** Where the serial log ends now: pass it to expect() to match only what comes after. */
  async mark(): Promise<number> {
    return (await this.log()).length;
  }

  /**
   * Waits until the serial log (from character `from` on) matches; timeoutMs is scaled by BOOTOS_TIMEOUT_FACTOR.
   */
  async expect(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    const limit = scaledTimeout(timeoutMs);
    const deadline = Date.now() + limit;
    for (;;) {
      const text = await this.log();
      const m = text.slice(from).match(pattern);
      if (m) return m;
      if (!this.running) {
        throw new BootosError('QEMU_EXITED', `QEMU exited (${this.exitCode}) before ${pattern} appeared; ${Buffer.concat(this.stderr).toString().trim()}\nserial log tail:\n${text.slice(-3000)}`);
      }
      if (Date.now() > deadline) throw new BootosError('QEMU_TIMEOUT', `${pattern} did not appear within ${limit} ms; serial log tail:\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async qmpClient(): Promise<Qmp> {
    this.qmp ??= await Qmp.connect(this.qmpSocket);
    return this.qmp;
  }

  /** The guest's screen as a file (QMP screendump): PPM, or PNG (QEMU 7.1 and later). */
  async screendump(file: string, format: 'ppm' | 'png' = 'ppm'): Promise<void> {
    await (await this.qmpClient()).execute('screendump', { filename: file, format });
  }

  /** Presses and releases keys at once, as a chord (QMP send-key; names as QEMU's QKeyCode: 'esc', 'ctrl', 'h'). */
  async sendKey(keys: string[]): Promise<void> {
    await (await this.qmpClient()).execute('send-key', { keys: keys.map((data) => ({ type: 'qcode', data })) });
  }

  /** Presses the ACPI power button (QMP system_powerdown) and waits for QEMU to exit. */
  async powerdown(timeoutMs = 30_000): Promise<number | null> {
    await (await this.qmpClient()).execute('system_powerdown');
    return this.waitExit(timeoutMs);
  }

  /** Ends the machine at once, as a power cut does (QMP quit: nothing in the guest is flushed or told). */
  async quit(timeoutMs = 10_000): Promise<number | null> {
    await (await this.qmpClient()).execute('quit').catch(() => {});
    return this.waitExit(timeoutMs);
  }

  /** Resolves with QEMU's exit code whenever it exits. */
  wait(): Promise<number | null> {
    return this.exited;
  }

  async waitExit(timeoutMs: number): Promise<number | null> {
    const limit = scaledTimeout(timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BootosError('QEMU_TIMEOUT', `QEMU did not exit within ${limit} ms`)), limit);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops QEMU (SIGTERM, then SIGKILL after 3 s) and removes its temp files. Safe to call twice. */
  async close(): Promise<void> {
    this.qmp?.close();
    this.qmp = null;
    if (this.running) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(killer);
    }
    await rm(this.workDir, { recursive: true, force: true }); // the serial log too, unless the caller chose its path
  }
}
