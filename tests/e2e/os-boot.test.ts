// The built OS boots for real in QEMU (TCG here): x86_64 and aarch64 kernel + initramfs reach the agent's ready line
// on the serial console, /api/health answers through hostfwd (on x86_64 also /api/device and the
// kiosk), and the ACPI power button (QMP system_powerdown) powers the guest off
// cleanly; bootos-x86_64.img boots under OVMF with its BOOTOS-DATA partition as data root, from a virtio disk and
// from a USB stick, and bootos-aarch64.img under AAVMF.
// /usr (node, runc, libraries) is the squashfs inside the initramfs, so every ready line is Node run from it.
// One build per arch (inputs from the cache) is shared by the tests of this file; QEMU runs one guest at a time.
import test from 'ava';
import { createServer } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage } from '../../bootos/src/os/build.js';
import { copyDiskWithCmdline, readDiskCmdline } from '../../bootos/src/os/disk-cmdline.js';
import type { Arch } from '../../bootos/src/os/recipe.js';
import { Qemu, type QemuOptions } from '../../qemu/src/qemu.js';
import { POWER_BUTTON_READY } from '../../qemu/src/guest.js';
import { makeRegistry, tempDir } from '../support/registry.js';

let out = '';
const cleanup: Array<() => Promise<void>> = [];

test.before(async (t) => {
  t.timeout(15 * 60_000);
  const registry = await makeRegistry();
  cleanup.push(() => registry.cleanup());
  out = await tempDir('bootos-os-boot-');
  cleanup.push(() => rm(out, { recursive: true, force: true }));
  for (const arch of ['x86_64', 'aarch64'] as const) {
    await buildImage({ arch, rootJson: registry.rootBytes, outDir: out, progress: (l) => t.log(l) });
  }
});

test.after.always(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function health(port: number, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(3000) });
      return { status: res.status, body: await res.json() };
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

interface Device {
  arch: string;
  cpu: { cores: number };
  network: { iface: string }[];
}

/** GET /api/device until the network driver (loaded by /init in the background) has brought eth0. */
async function deviceWithEth0(port: number, timeoutMs: number): Promise<Device> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/api/device`, { signal: AbortSignal.timeout(30_000) });
    const device = (await res.json()) as Device;
    if (device.network.some((n) => n.iface === 'eth0') || Date.now() > deadline) return device;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The ACPI power button, pressed once /init says acpid listens (it starts in the background); QEMU's exit code. */
async function pressPowerButton(vm: Qemu, timeoutMs: number, offMs = timeoutMs): Promise<number | null> {
  await vm.expect(POWER_BUTTON_READY, timeoutMs);
  return vm.powerdown(offMs);
}

async function bootToReady(t: import('ava').ExecutionContext, arch: Arch, boot: 'direct' | 'uefi' | 'usb', readyMs: number) {
  const dir = join(out, arch);
  const port = await freePort();
  // The agent needs a registry on its command line; nothing listens there, so its channel keeps retrying, and it is
  // ready (API up) all the same.
  const registry = 'bootos.registry=http://10.0.2.2:9/';
  let options: QemuOptions;
  if (boot === 'direct') {
    options = { arch, boot: { mode: 'direct', kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initramfs'), cmdline: `${(await readFile(join(dir, 'cmdline'), 'utf8')).trim()} ${registry}` } };
  } else {
    const disk = join(out, `uefi-${arch}.img`);
    await copyDiskWithCmdline(join(dir, `bootos-${arch}.img`), disk, `${await readDiskCmdline(join(dir, `bootos-${arch}.img`))} ${registry}`);
    options = { arch, boot: { mode: 'uefi' }, disks: [{ path: disk, snapshot: true, usb: boot === 'usb' }] };
  }
  const vm = await Qemu.start({ ...options, memoryMiB: 512, hostfwd: [{ hostPort: port, guestPort: 8080 }] }, (l) => t.log(l));
  try {
    const started = Date.now();
    await vm.expect(/bootos-agent: ready/, readyMs);
    t.log(`${arch} ${boot}: ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const h = await health(port, 30_000);
    t.is(h.status, 200);
    t.like(h.body as object, { ok: true });
    return { vm, port };
  } catch (err) {
    await vm.close();
    throw err;
  }
}

test.serial('x86_64 kernel + initramfs boot to the ready line, answer /api/health and power off on the power button', async (t) => {
  t.timeout(5 * 60_000);
  const { vm, port } = await bootToReady(t, 'x86_64', 'direct', 120_000);
  try {
    // The data root is mounted in the background while the agent starts: its line may come after the ready line.
    await vm.expect(/bootos-init: data root tmpfs/, 60_000);
    const log = await vm.log();
    t.notRegex(log, /Kernel panic|Attempted to kill init/);
    // Node lives only in /usr.squashfs: the agent's ready line means init mounted it and Node ran from it.
    t.notRegex(log, /cannot mount \/usr\.squashfs/);
    const device = await deviceWithEth0(port, 30_000);
    t.is(device.arch, 'x86_64');
    t.is(device.cpu.cores, 2, 'QEMU runs the guest with -smp 2');
    t.true(device.network.some((n) => n.iface === 'eth0'), JSON.stringify(device.network));
    // The kiosk is served from /usr/lib/bootos/kiosk/, beside the agent's own file.
    const kiosk = await fetch(`http://127.0.0.1:${port}/`);
    t.is(kiosk.status, 200);
    t.regex(await kiosk.text(), /<script[^>]+app\.js/);
    t.is(await pressPowerButton(vm, 60_000), 0);
    const after = await vm.log();
    t.regex(after, /bootos-init: shutting down[\s\S]*bootos-init: agent exited with status 0[\s\S]*bootos-init: poweroff/);
    t.regex(after, /reboot: Power down/);
  } finally {
    await vm.close();
  }
});

test.serial('aarch64 kernel + initramfs boot to the ready line and answer /api/health', async (t) => {
  t.timeout(6 * 60_000);
  const { vm } = await bootToReady(t, 'aarch64', 'direct', 240_000);
  try {
    t.is(await pressPowerButton(vm, 90_000), 0);
    t.regex(await vm.log(), /reboot: Power down/);
  } finally {
    await vm.close();
  }
});

// The disk images under UEFI firmware: each finds its BOOTOS-DATA partition. A USB stick enumerates after its
// controller's driver loaded: /init loads usb-storage and sd_mod while it waits (bootos.data_wait, set by the disk
// image) for the partition.
for (const disk of [
  { title: 'bootos-x86_64.img on a USB stick (xhci, usb-storage) boots under OVMF and finds BOOTOS-DATA on it', arch: 'x86_64', boot: 'usb', partition: 'sda2', readyMs: 180_000, waitMs: 60_000, offMs: 60_000 },
  { title: 'bootos-x86_64.img boots under OVMF with BOOTOS-DATA as the data root', arch: 'x86_64', boot: 'uefi', partition: 'vda2', readyMs: 180_000, waitMs: 60_000, offMs: 60_000 },
  { title: 'bootos-aarch64.img boots under AAVMF (qemu-efi-aarch64) with BOOTOS-DATA as the data root', arch: 'aarch64', boot: 'uefi', partition: 'vda2', readyMs: 300_000, waitMs: 90_000, offMs: 120_000 },
] as const) {
  test.serial(disk.title, async (t) => {
    t.timeout((disk.arch === 'aarch64' ? 8 : 6) * 60_000);
    const { vm } = await bootToReady(t, disk.arch, disk.boot, disk.readyMs);
    try {
      await vm.expect(new RegExp(`bootos-init: data root /dev/${disk.partition}`), disk.waitMs);
      t.notRegex(await vm.log(), /data root tmpfs/);
      t.is(await pressPowerButton(vm, disk.waitMs, disk.offMs), 0);
    } finally {
      await vm.close();
    }
  });
}
