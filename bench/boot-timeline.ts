// node --import=tsx bench/boot-timeline.ts --image out/x86_64 [--arch x86_64] [--cmdline bootos.debug=1] [--until RE]
// One boot of an image (direct kernel boot, as bench/boot.ts does), printing each console line with the host's
// seconds since QEMU's spawn, until the agent's ready line (or --until) appears. With bootos.debug=1 on the command
// line /init and the agent add their own marks (guest uptime, Node clock), which is how the boot's time is split.
// --kernel/--initrd boot other files (a baseline initramfs, say) instead of an image folder.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Arch } from '../bootos/src/os/recipe.js';
import { Qemu } from '../qemu/src/qemu.js';

const { values } = parseArgs({
  options: {
    image: { type: 'string' },
    arch: { type: 'string', default: 'x86_64' },
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    cmdline: { type: 'string', default: '' },
    until: { type: 'string', default: 'bootos-agent: ready' },
    memory: { type: 'string', default: '512' },
    timeout: { type: 'string', default: '240' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || (!values.image && !(values.kernel && values.initrd))) {
  process.stderr.write('usage: node --import=tsx bench/boot-timeline.ts (--image DIR | --kernel F --initrd F) [--arch x86_64|aarch64] [--cmdline "k=v …"] [--until REGEXP] [--memory MiB] [--timeout s]\n');
  process.exit(values.help ? 0 : 2);
}
const arch = values.arch as Arch;
const kernel = values.kernel ?? join(values.image!, 'vmlinuz');
const initrd = values.initrd ?? join(values.image!, 'initramfs');
const base = values.image ? (await readFile(join(values.image, 'cmdline'), 'utf8')).trim() : `console=${arch === 'x86_64' ? 'ttyS0' : 'ttyAMA0'}`;
// Nothing listens at port 9: the agent gets ready all the same (its channel keeps retrying).
const cmdline = `${base} bootos.registry=http://10.0.2.2:9/ ${values.cmdline}`.trim();
const until = new RegExp(values.until!);

const started = performance.now();
const vm = await Qemu.start({ arch, memoryMiB: Number(values.memory), boot: { mode: 'direct', kernel, initrd, cmdline } }, () => {});
let printed = 0;
try {
  const deadline = Date.now() + Number(values.timeout) * 1000;
  for (;;) {
    const text = await vm.log();
    const lines = text.split('\n');
    const complete = lines.slice(0, -1);
    const at = ((performance.now() - started) / 1000).toFixed(2).padStart(7);
    for (const line of complete.slice(printed)) process.stdout.write(`${at}  ${line.replace(/\r$/, '')}\n`);
    printed = complete.length;
    if (complete.some((l) => until.test(l))) break;
    if (!vm.running) throw new Error(`QEMU exited before ${until} appeared`);
    if (Date.now() > deadline) throw new Error(`${until} did not appear within ${values.timeout} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
} finally {
  await vm.close();
}
