// npm run bench:boot — how long bootos takes to boot in QEMU, against a baseline measured in this same script on the
// same kernel: for x86_64 and aarch64 (direct kernel boot, TCG unless /dev/kvm works),
//   baseline:  the image's kernel with a one-file initramfs whose busybox /init prints one line and powers off
//   ready:     bootos to the agent's ready line (kernel, /init, modules, network, Node, the agent's API)
//   first app: bootos to the first answer of hello through hostfwd (plus: channel verified, pull, runc start)
// Every time is from QEMU's start. Run as root. BOOT_RUNS (default 1) boots per row; BOOT_ARCHES (default both).
// docs/performance.md (## Boot) keeps the figures.
import { open, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { kernelCmdline } from '../bootos/src/os/build.js';
import { cacheDir } from '../bootos/src/os/cache.js';
import { writeCpio } from '../bootos/src/os/cpio.js';
import { fetchInputs, loadLockfile } from '../bootos/src/os/lockfile.js';
import { loadRecipe, type Arch } from '../bootos/src/os/recipe.js';
import { Tree } from '../bootos/src/os/tree.js';
import { unpackDeb } from '../bootos/src/os/unpack.js';
import { Guest } from '../qemu/src/guest.js';
import { Qemu } from '../qemu/src/qemu.js';
import { E2eRegistry, e2eImage, getOnce, HELLO_PORT } from '../tests/helpers/e2e.js';

const RUNS = Number(process.env.BOOT_RUNS ?? 1);
const ARCHES = (process.env.BOOT_ARCHES ?? 'x86_64,aarch64').split(',') as Arch[];
const say = (line: string) => process.stderr.write(`${line}\n`);

/** A one-file initramfs: busybox as /init's shell; /init prints one line and powers off. */
async function baselineInitramfs(arch: Arch): Promise<string> {
  const recipe = await loadRecipe();
  const inputs = await fetchInputs(await loadLockfile(), arch, recipe.arches[arch].debian, say);
  const tree = new Tree();
  tree.file('bin/busybox', join(await unpackDeb(inputs.debs['busybox-static']!), 'bin/busybox'), 0o755);
  tree.file('init', Buffer.from('#!/bin/busybox sh\n/bin/busybox echo BASELINE-INIT-RAN\n/bin/busybox poweroff -f\n'), 0o755);
  tree.char('dev/console', 5, 1, 0o600);
  const dir = join(cacheDir(), 'bench');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `baseline-${arch}.cpio`);
  const out = await open(file, 'w');
  try {
    await writeCpio(tree, 0, async (chunk) => void (await out.write(chunk)));
  } finally {
    await out.close();
  }
  return file;
}

async function baseline(arch: Arch, imageDir: string, initrd: string): Promise<number> {
  const t0 = Date.now();
  const vm = await Qemu.start({ arch, boot: { mode: 'direct', kernel: join(imageDir, 'vmlinuz'), initrd, cmdline: kernelCmdline(await loadRecipe(), arch) }, memoryMiB: 1024 }, () => {});
  try {
    await vm.expect(/BASELINE-INIT-RAN/, arch === 'aarch64' ? 180_000 : 60_000);
    return (Date.now() - t0) / 1000;
  } finally {
    await vm.close();
  }
}

async function bootos(arch: Arch, imageDir: string, registry: E2eRegistry): Promise<{ ready: number; firstApp: number }> {
  const t0 = Date.now();
  const guest = await Guest.boot({ arch, mode: 'direct', imageDir, registry: registry.url, forward: [{ guestPort: HELLO_PORT }] }, () => {});
  try {
    await guest.ready();
    const ready = (Date.now() - t0) / 1000;
    // The app's port listens once the channel is verified: ask until it answers.
    for (;;) {
      try {
        const answer = await getOnce(guest.url(HELLO_PORT, '/'), 120_000);
        if (answer.status === 200) break;
      } catch {
        if (Date.now() - t0 > 600_000) throw new Error(`${arch}: hello never answered`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const firstApp = (Date.now() - t0) / 1000;
    await guest.powerdown().catch(() => {});
    return { ready, firstApp };
  } finally {
    await guest.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: string[][] = [];
const registry = await E2eRegistry.create(['hello']);
try {
  await registry.sign();
  await registry.start();
  for (const arch of ARCHES) {
    const image = await e2eImage(arch, say);
    const initrd = await baselineInitramfs(arch);
    const b: number[] = [];
    const r: number[] = [];
    const f: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      say(`${arch}: run ${i + 1}/${RUNS}: baseline`);
      b.push(await baseline(arch, image.dir, initrd));
      say(`${arch}: run ${i + 1}/${RUNS}: bootos`);
      const x = await bootos(arch, image.dir, registry);
      r.push(x.ready);
      f.push(x.firstApp);
    }
    const [mb, mr, mf] = [median(b), median(r), median(f)];
    rows.push([arch, mb.toFixed(1), mr.toFixed(1), (mr / mb).toFixed(1), mf.toFixed(1), (mf / mb).toFixed(1), (mf - mr).toFixed(1)]);
    await rm(initrd, { force: true });
  }
} finally {
  await registry.close();
}

const head = ['arch', 'baseline s', 'agent ready s', '× baseline', 'first app answer s', '× baseline', 'ready → answer s'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`boot in QEMU (${process.env.BOOTOS_QEMU_ACCEL ?? 'auto: KVM if usable, else TCG'}), median of ${RUNS} run(s), seconds from QEMU start`);
console.log(line(head));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rows) console.log(line(row));

