// The PXE bundle: an iPXE script beside the kernel and initramfs, and an example dnsmasq proxy-DHCP configuration
// for an office network whose own DHCP server keeps handing out addresses (docs/pxe.md).
import { copyFile, mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export function ipxeScript(cmdline: string): string {
  return `#!ipxe
# bootos network boot (docs/pxe.md). Relative names load from where this script came from (HTTP or TFTP).
# Set the registry for your office here, or before chaining to this script: set registry http://host:port/
# More kernel arguments (bootos.profile=kiosk bootos.debug=1 …) the same way: set bootos-args …
isset \${registry} || set registry http://\${next-server}:8080/
kernel vmlinuz initrd=initramfs ${cmdline} bootos.registry=\${registry} \${bootos-args}
initrd initramfs
boot || shell
`;
}

export function dnsmasqConfig(arch: string): string {
  return `# bootos PXE, dnsmasq in proxy-DHCP mode (docs/pxe.md): the office's DHCP server keeps assigning addresses,
# dnsmasq only adds boot information. Replace 192.168.1.0 with your subnet and 192.168.1.10 with this server.
port=0
log-dhcp
dhcp-range=192.168.1.0,proxy
# First stage: firmware PXE clients get iPXE over TFTP (undionly.kpxe and ipxe.efi from Debian's ipxe package).
enable-tftp
tftp-root=/srv/bootos/pxe
dhcp-userclass=set:ipxe,iPXE
pxe-prompt="bootos",1
pxe-service=tag:!ipxe,x86PC,"bootos",undionly.kpxe
pxe-service=tag:!ipxe,X86-64_EFI,"bootos",ipxe.efi
pxe-service=tag:!ipxe,ARM64_EFI,"bootos",ipxe-arm64.efi
# Second stage: iPXE itself asks again and gets the bootos script (${arch} bundle; serve this folder over HTTP).
pxe-service=tag:ipxe,x86PC,"bootos",http://192.168.1.10/bootos/${arch}/boot.ipxe
pxe-service=tag:ipxe,X86-64_EFI,"bootos",http://192.168.1.10/bootos/x86_64/boot.ipxe
pxe-service=tag:ipxe,ARM64_EFI,"bootos",http://192.168.1.10/bootos/aarch64/boot.ipxe
`;
}

export async function writePxe(dir: string, input: { arch: string; vmlinuz: string; initramfs: string; cmdline: string; mtime: number }): Promise<void> {
  await mkdir(dir, { recursive: true });
  await copyFile(input.vmlinuz, join(dir, 'vmlinuz'));
  await copyFile(input.initramfs, join(dir, 'initramfs'));
  await writeFile(join(dir, 'boot.ipxe'), ipxeScript(input.cmdline));
  await writeFile(join(dir, 'dnsmasq.conf'), dnsmasqConfig(input.arch));
  for (const f of ['vmlinuz', 'initramfs', 'boot.ipxe', 'dnsmasq.conf']) await utimes(join(dir, f), input.mtime, input.mtime);
}
