// npm run bench:boot [-- --arch x86_64,aarch64 --runs N --memory]
// Boot-to-ready of the bootos image under QEMU against a baseline: the same kernel with a bare busybox /init that
// prints one line, booted by the same QEMU command and timed by the same script (spawn → line on the serial log).
// Also prints the compressed kernel + initramfs size, and with --memory the least -m (MiB) that boots and answers
// /api/health. Targets (issue 4): x86_64 size ≤ 40 MiB, ratio ≤ 1.3, memory ≤ 384 MiB.
import { createServer } from 'node:net';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImage } from '../bootos/src/os/build.js';
import { writeInitramfs } from '../bootos/src/os/initramfs.js';
import { fetchInputs, loadLockfile } from '../bootos/src/os/lockfile.js';
import { loadRecipe, type Arch } from '../bootos/src/os/recipe.js';
import { Tree } from '../bootos/src/os/tree.js';
import { unpackDeb } from '../bootos/src/os/unpack.js';
import { Qemu } from '../qemu/src/qemu.js';
import { makeRegistry, tempDir } from '../tests/helpers/registry.js';

const { values } = parseArgs({
  options: { arch: { type: 'string', default: 'x86_64,aarch64' }, runs: { type: 'string', default: '1' }, memory: { type: 'boolean', default: false } },
});
const arches = values.arch!.split(',') as Arch[];
const runs = Number(values.runs);
const quiet = () => {};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function bootSeconds(arch: Arch, kernel: string, initrd: string, cmdline: string, line: RegExp, memoryMiB = 512, checkHealth = false, timeoutMs = 240_000): Promise<number | null> {
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const registry = await makeRegistry();
const out = await tempDir('bootos-bench-');
const recipe = await loadRecipe();
const lock = await loadLockfile();
const rows: string[][] = [];
try {
  for (const arch of arches) {
    const built = await buildImage({ arch, rootJson: registry.rootBytes, outDir: out, noDisk: true, progress: quiet });
    const dir = built.dir;
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
    const boot: number[] = [];
    for (let i = 0; i < runs; i++) {
      const b = await bootSeconds(arch, join(dir, 'vmlinuz'), baseInitrd, cmdline, /bootos-baseline: ready/);
      const o = await bootSeconds(arch, join(dir, 'vmlinuz'), join(dir, 'initramfs'), cmdline, /bootos-agent: ready/);
      if (b === null || o === null) throw new Error(`${arch}: a boot failed`);
      base.push(b);
      boot.push(o);
    }
    let memory = '-';
    if (values.memory) {
      for (const m of [256, 288, 320, 352, 384, 448, 512]) {
        const ok = await bootSeconds(arch, join(dir, 'vmlinuz'), join(dir, 'initramfs'), cmdline, /bootos-agent: ready/, m, true, 120_000);
        process.stderr.write(`${arch}: -m ${m}: ${ok === null ? 'fails' : `ready in ${ok.toFixed(1)} s, /api/health 200`}\n`);
        if (ok !== null) {
          memory = String(m);
          break;
        }
      }
    }
    rows.push([arch, (size / 2 ** 20).toFixed(1), median(base).toFixed(1), median(boot).toFixed(1), (median(boot) / median(base)).toFixed(2), memory]);
  }
} finally {
  await rm(out, { recursive: true, force: true });
  await registry.cleanup();
}

const head = ['arch', 'kernel+initramfs MiB', 'baseline s', 'bootos s', 'ratio', 'least -m MiB'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log([line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
console.log(`(TCG unless KVM is usable; ${runs} run(s), median; timed from QEMU spawn to the line on the serial console)`);
