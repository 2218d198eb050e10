// Firmware files from Debian's packages: ovmf (x86_64 UEFI), qemu-efi-aarch64 (aarch64 UEFI), ipxe-qemu (PXE ROMs).
import { existsSync } from 'node:fs';
import { BootosError } from '../../fetcher/src/core/error.js';
import type { Arch as QemuArch } from '../../fetcher/src/core/arch.js';

export interface UefiFirmware {
  code: string;
  /** Template for the writable variable store; each VM gets its own copy. */
  vars: string;
  package: string;
}

const UEFI: Record<QemuArch, Array<{ code: string; vars: string }>> = {
  x86_64: [
    { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
    { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
  ],
  aarch64: [{ code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' }],
};

const PACKAGE: Record<QemuArch, string> = { x86_64: 'ovmf', aarch64: 'qemu-efi-aarch64' };

export function uefiFirmware(arch: QemuArch): UefiFirmware {
  const found = UEFI[arch].find((f) => existsSync(f.code) && existsSync(f.vars));
  if (!found) throw new BootosError('FILE_NOT_FOUND', `no UEFI firmware for ${arch}; install the Debian package ${PACKAGE[arch]}`);
  return { ...found, package: PACKAGE[arch] };
}

/** The iPXE option ROM for a virtio NIC (Debian ipxe-qemu); UEFI firmware uses the EFI build. */
export function ipxeRom(uefi: boolean): string {
  const path = `/usr/lib/ipxe/qemu/${uefi ? 'efi' : 'pxe'}-virtio.rom`;
  if (!existsSync(path)) throw new BootosError('FILE_NOT_FOUND', `${path} not found; install the Debian package ipxe-qemu`);
  return path;
}
