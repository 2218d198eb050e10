// The QEMU harness without QEMU: typed options → the command line (and the line a user pastes), the guest's kernel
// arguments, the registry URL as the guest sees it, the PXE chain script, and `bootos qemu` refusing bad options.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCommand, probeBios, shellLine } from '../../qemu/src/qemu.js';
import { bootosArgs, guestRegistryUrl, pxeChainScript } from '../../qemu/src/guest.js';
import { isBootosError } from '../../fetcher/src/core/error.js';
import { runCli } from '../support/cli.js';

const paths = { serialLog: '/tmp/s.log', qmpSocket: '/tmp/q.sock', workDir: '/tmp/w' };

test('direct boot: machine, TCG, kernel arguments, hostfwd on loopback, serial to a file', (t) => {
  const cmd = buildCommand(
    { arch: 'x86_64', accel: 'tcg', boot: { mode: 'direct', kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0 bootos.registry=http://10.0.2.2:1/' }, hostfwd: [{ hostPort: 18080, guestPort: 8080 }] },
    paths,
  );
  t.is(cmd.bin, 'qemu-system-x86_64');
  const line = shellLine(cmd);
  t.regex(line, /-machine q35 -accel tcg,thread=multi -cpu max /);
  t.regex(line, / -kernel \/k -initrd \/i -append 'console=ttyS0 bootos\.registry=http:\/\/10\.0\.2\.2:1\/' /);
  t.regex(line, /-netdev user,id=net0,hostfwd=tcp:127\.0\.0\.1:18080-:8080 /);
  t.regex(line, /-serial file:\/tmp\/s\.log /);
  t.deepEqual(cmd.setup, []);
});

test('aarch64 PXE: UEFI firmware with its own variable store, a modern virtio NIC with the EFI iPXE ROM, TFTP', (t) => {
  const cmd = buildCommand({ arch: 'aarch64', accel: 'tcg', boot: { mode: 'pxe', tftpDir: '/tftp', bootFile: 'bootos.ipxe' } }, paths);
  const line = shellLine(cmd);
  t.regex(line, /-machine virt /);
  t.regex(line, /if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/AAVMF\/AAVMF_CODE\.fd/);
  t.deepEqual(cmd.setup, [{ copy: '/usr/share/AAVMF/AAVMF_VARS.fd', to: '/tmp/w/efivars.fd' }]);
  t.regex(line, /-netdev user,id=net0,tftp=\/tftp,bootfile=bootos\.ipxe /);
  t.regex(line, /virtio-net-pci,netdev=net0,disable-legacy=on,romfile=\/usr\/lib\/ipxe\/qemu\/efi-virtio\.rom,bootindex=0/);
});

test('console on stdio: one mux chardev for the serial port and the monitor, logged to the serial log', (t) => {
  const line = shellLine(buildCommand({ arch: 'x86_64', accel: 'tcg', boot: { mode: 'uefi' }, disks: [{ path: '/d.img' }], console: 'stdio' }, paths));
  t.regex(line, /-chardev stdio,id=con0,mux=on,signal=off,logfile=\/tmp\/s\.log -serial chardev:con0 -mon chardev=con0,mode=readline/);
  t.regex(line, /virtio-blk-pci,drive=disk0,bootindex=0/);
});

test('a USB stick: usb-storage on an xhci controller, booted first; other disks stay on virtio-blk', (t) => {
  const line = shellLine(buildCommand({ arch: 'x86_64', accel: 'tcg', boot: { mode: 'uefi' }, disks: [{ path: '/stick.img', usb: true, snapshot: true }, { path: '/d.img' }] }, paths));
  t.regex(line, /-device qemu-xhci,id=xhci -drive if=none,id=disk0,format=raw,file=\/stick\.img,snapshot=on -device usb-storage,bus=xhci\.0,drive=disk0,bootindex=0 /);
  t.regex(line, /-drive if=none,id=disk1,format=raw,file=\/d\.img -device virtio-blk-pci,drive=disk1 /);
});

test('guest side: the host loopback is 10.0.2.2, kernel arguments are single words, the PXE script chains over HTTP', (t) => {
  t.is(guestRegistryUrl('http://127.0.0.1:8090/'), 'http://10.0.2.2:8090/');
  t.is(guestRegistryUrl('http://localhost:8090/x/'), 'http://10.0.2.2:8090/x/');
  t.is(guestRegistryUrl('https://registry.example:443/'), 'https://registry.example/');
  t.deepEqual(bootosArgs({ profile: 'lab', channel: 'beta', debug: true, cmdline: ['bootos.poll_seconds=5'] }), [
    'bootos.channel=beta', 'bootos.profile=lab', 'bootos.debug=1', 'bootos.poll_seconds=5',
  ]);
  const err = t.throws(() => bootosArgs({ cmdline: ['a b'] }));
  t.true(isBootosError(err, 'USAGE'));
  t.is(
    pxeChainScript('http://10.0.2.2:9999/', 'http://10.0.2.2:8090/', ['bootos.profile=lab']),
    '#!ipxe\n# bootos QEMU PXE (qemu/src/guest.ts): user-mode TFTP serves this; the kernel and initramfs come over HTTP.\n' +
      'set registry http://10.0.2.2:8090/\nset bootos-args bootos.profile=lab\nchain http://10.0.2.2:9999/boot.ipxe || shell\n',
  );
});

test('bootos qemu: --help, and usage errors exit 2 before anything starts', async (t) => {
  const help = await runCli(['qemu', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /usage: bootos qemu --arch x86_64\|aarch64 --mode direct\|uefi\|pxe/);
  for (const args of [['--arch', 'sparc'], ['--mode', 'floppy'], ['--registry', 'ftp://x/'], ['--forward', 'http'], ['--memory', '12']]) {
    const r = await runCli(['qemu', ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.notRegex(r.stderr, /qemu: qemu-system/, 'QEMU never started');
  }
  const missing = await runCli(['qemu', '--image', '/nonexistent']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /error FILE_NOT_FOUND: .*bootos build/);
});

test('the KVM probe firmware reaches protected mode and writes its byte (run here under TCG)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootos-probe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'bios.bin'), probeBios());
  const r = spawnSync('qemu-system-x86_64', ['-accel', 'tcg', '-M', 'q35', '-m', '16', '-nodefaults', '-display', 'none', '-bios', join(dir, 'bios.bin'), '-debugcon', 'stdio'], { timeout: 10_000, killSignal: 'SIGKILL' });
  t.is(r.stdout.toString(), 'P');
});
