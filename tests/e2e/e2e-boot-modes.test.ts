// End to end on x86_64 through the two other ways a machine boots: bootos-x86_64.img under OVMF (UEFI firmware →
// systemd-boot → kernel EFI stub, BOOTOS-DATA as the data root), and the network (iPXE from Debian's ipxe-qemu ROM
// → DHCP + TFTP from QEMU's user-mode network → boot.ipxe → kernel and initramfs over HTTP from the host).
// The UEFI device reads its registry as an office does: bootos.registry=oci+http://10.0.2.2:PORT/bootos, a real
// docker-registry behind the real nginx office cache, the channel and its update pushed there with `bootos push`.
import test from 'ava';
import { e2eImage, fullFlow } from '../support/e2e.js';

test.before(async (t) => {
  t.timeout(15 * 60_000);
  const image = await e2eImage('x86_64', (l) => t.log(l));
  t.log(`image ${image.key}${image.cached ? ' (cached)' : ' (built)'}`);
});

test.serial('x86_64 UEFI boot of bootos-x86_64.img from docker-registry through the office cache: verify, first request starts hello, idle stop, update, poweroff', async (t) => {
  t.timeout(8 * 60_000);
  await fullFlow(t, { arch: 'x86_64', mode: 'uefi', via: 'office-cache' });
});

test.serial('x86_64 PXE boot (iPXE → HTTP): verify, first request starts hello, idle stop, update, poweroff', async (t) => {
  t.timeout(8 * 60_000);
  await fullFlow(t, { arch: 'x86_64', mode: 'pxe' });
});
