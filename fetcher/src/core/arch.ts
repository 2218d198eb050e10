// The one table of machine architectures: our name (the kernel's `uname -m`), OCI's (GOARCH), Debian's, Node's
// `process.arch`, QEMU's system binary, the ELF header's e_machine. Every other place derives its names from here.

export const ARCH_TABLE = {
  x86_64: { oci: 'amd64', debian: 'amd64', node: 'x64', qemu: 'qemu-system-x86_64', elf: 62 },
  aarch64: { oci: 'arm64', debian: 'arm64', node: 'arm64', qemu: 'qemu-system-aarch64', elf: 183 },
} as const;

export type Arch = keyof typeof ARCH_TABLE;
export type OciArch = (typeof ARCH_TABLE)[Arch]['oci'];

export const ARCHES = Object.keys(ARCH_TABLE) as Arch[];
export const OCI_ARCHES = ARCHES.map((a) => ARCH_TABLE[a].oci);

/** Our name or OCI's → OCI's; undefined for anything else. */
export function ociArch(arch: string): OciArch | undefined {
  for (const a of ARCHES) if (arch === a || arch === ARCH_TABLE[a].oci) return ARCH_TABLE[a].oci;
  return undefined;
}

/** The architecture this process runs on. */
export function hostArch(): Arch {
  return ARCHES.find((a) => ARCH_TABLE[a].node === process.arch) ?? 'x86_64';
}

export function isArch(value: string): value is Arch {
  return (ARCHES as readonly string[]).includes(value);
}

/** OCI's name → ours. */
export function archOfOci(oci: OciArch): Arch {
  return ARCHES.find((a) => ARCH_TABLE[a].oci === oci)!;
}
