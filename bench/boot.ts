// npm run bench:boot [-- --arch x86_64,aarch64 --runs N --memory]
// Boot of the bootos image under QEMU (direct kernel boot; TCG unless /dev/kvm works) against a baseline measured by
// the same script with the same kernel and QEMU command line, every time from QEMU's spawn:
//   baseline:   the image's kernel with an initramfs of busybox alone, whose /init prints one line
//   ready:      bootos to the agent's ready line (kernel, /init, modules, network, Node, the agent's API)
//   first app:  bootos to the first answer of hello through hostfwd (+ channel verified, pull, runc start)
// Also the compressed kernel + initramfs size, and with --memory the least -m (MiB) that boots and answers
// /api/health. Targets: x86_64 size ≤ 40 MiB, ready ratio ≤ 1.3, memory ≤ 384 MiB.
// Run as root. docs/performance.md (## OS image, ## Boot) keeps the figures.
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeInitramfs } from '../bootos/src/os/initramfs.js';
import { fetchInputs, loadLockfile } from '../bootos/src/os/lockfile.js';
import { loadRecipe, type Arch } from '../bootos/src/os/recipe.js';
import { Tree } from '../bootos/src/os/tree.js';
import { unpackDeb } from '../fetcher/src/debian/unpack-deb.js';
import { freePort, Guest } from '../qemu/src/guest.js';
import { Qemu } from '../qemu/src/qemu.js';
import { E2eRegistry, e2eImage, getOnce, HELLO_PORT } from '../tests/support/e2e.js';
import { tempDir } from '../tests/support/registry.js';

const { values } = parseArgs({
  options: { arch: { type: 'string', default: 'x86_64,aarch64' }, runs: { type: 'string', default: '1' }, memory: { type: 'boolean', default: false } },
});
const arches = values.arch!.split(',') as Arch[];
const runs = Number(values.runs);
const quiet = () => {};
const say = (line: string) => process.stderr.write(`${line}\n`);
const MEMORY_MIB = 512;
/** Nothing listens there: the agent gets ready all the same (its channel keeps retrying). */
const NO_REGISTRY = 'bootos.registry=http://10.0.2.2:9/';

async function bootSeconds(arch: Arch, kernel: string, initrd: string, cmdline: string, line: RegExp, memoryMiB = MEMORY_MIB, checkHealth = false, timeoutMs = 240_000): Promise<number | null> {
  const port = await freePort();
  const started = Date.now();
  const vm = await Qemu.start({ arch, memoryMiB, boot: { mode: 'direct', kernel, initrd, cmdline }, hostfwd: [{ hostPort: port, guestPort: 8080 }] }, quiet);
  try {
    // A guest short of memory panics or loops in the OOM killer: stop at the first sign of either.
    await vm.expect(new RegExp(`${line.source}|Kernel panic|Out of memory`), timeoutMs);
    if (!line.test(await vm.log())) return null;
    const seconds = (Date.now() - started) / 1000;
    if (checkHealth) {
      const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(20_000) });
      if (res.status !== 200) return null;
    }
    return seconds;
  } catch {
    return null;
  } finally {
    await vm.close();
  }
}

/** bootos against a served registry: seconds to the ready line and to hello's first answer through hostfwd. */
async function bootToApp(arch: Arch, imageDir: string, registry: E2eRegistry): Promise<{ ready: number; firstApp: number }> {
  const started = Date.now();
  const guest = await Guest.boot({ arch, mode: 'direct', imageDir, registry: registry.url, memoryMiB: MEMORY_MIB, forward: [{ guestPort: HELLO_PORT }] }, quiet);
  try {
    await guest.ready();
    const ready = (Date.now() - started) / 1000;
    // hello's port listens once the channel is verified: ask until it answers.
    for (;;) {
      const answer = await getOnce(guest.url(HELLO_PORT, '/'), 120_000).catch(() => null);
      if (answer?.status === 200) break;
      if (Date.now() - started > 600_000) throw new Error(`${arch}: hello never answered`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const firstApp = (Date.now() - started) / 1000;
    await guest.powerdown().catch(() => {});
    return { ready, firstApp };
  } finally {
    await guest.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const registry = await E2eRegistry.create(['hello']);
await registry.sign();
await registry.start();
const out = await tempDir('bootos-bench-');
const recipe = await loadRecipe();
const lock = await loadLockfile();
const rows: string[][] = [];
try {
  for (const arch of arches) {
    const dir = (await e2eImage(arch, say)).dir;
    const cmdline = (await readFile(join(dir, 'cmdline'), 'utf8')).trim();
    const size = (await stat(join(dir, 'vmlinuz'))).size + (await stat(join(dir, 'initramfs'))).size;

    // Baseline: same kernel, busybox alone, /init prints one line.
    const inputs = await fetchInputs(lock, arch, recipe.arches[arch].debian);
    const tree = new Tree();
    tree.file('bin/busybox', join(await unpackDeb(inputs.debs['busybox-static']!), 'bin/busybox'), 0o755);
    tree.char('dev/console', 5, 1);
    tree.file('init', Buffer.from('#!/bin/busybox sh\n/bin/busybox echo "bootos-baseline: ready"\nexec /bin/busybox sleep 3600\n'), 0o755);
    const baseInitrd = join(out, `baseline-${arch}.cpio.zst`);
    await writeInitramfs([{ name: 'baseline', tree, cache: false }], 0, baseInitrd);

    const base: number[] = [];
    const ready: number[] = [];
    const app: number[] = [];
    for (let i = 0; i < runs; i++) {
      say(`${arch}: run ${i + 1}/${runs}`);
      const b = await bootSeconds(arch, join(dir, 'vmlinuz'), baseInitrd, cmdline, /bootos-baseline: ready/);
      if (b === null) throw new Error(`${arch}: the baseline did not boot`);
      const o = await bootToApp(arch, dir, registry);
      base.push(b);
      ready.push(o.ready);
      app.push(o.firstApp);
    }
    let memory = '-';
    if (values.memory) {
      for (const m of [256, 288, 320, 352, 384, 448, 512]) {
        const ok = await bootSeconds(arch, join(dir, 'vmlinuz'), join(dir, 'initramfs'), `${cmdline} ${NO_REGISTRY}`, /bootos-agent: ready/, m, true, 120_000);
        say(`${arch}: -m ${m}: ${ok === null ? 'fails' : `ready in ${ok.toFixed(1)} s, /api/health 200`}`);
        if (ok !== null) {
          memory = String(m);
          break;
        }
      }
    }
    const [mb, mr, ma] = [median(base), median(ready), median(app)];
    rows.push([arch, (size / 2 ** 20).toFixed(1), mb.toFixed(1), mr.toFixed(1), (mr / mb).toFixed(2), ma.toFixed(1), (ma / mb).toFixed(2), memory]);
  }
} finally {
  await rm(out, { recursive: true, force: true });
  await registry.close();
}

const head = ['arch', 'kernel+initramfs MiB', 'baseline s', 'agent ready s', 'ratio', 'first app answer s', 'ratio', 'least -m MiB'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log([line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
console.log(`(TCG unless KVM is usable; -m ${MEMORY_MIB}; ${runs} run(s), median; from QEMU spawn to the line on the serial console / to hello's answer)`);
