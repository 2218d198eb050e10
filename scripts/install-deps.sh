#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for bootos: Debian packages (only the missing ones) and npm packages.
# Idempotent and quick when everything is there. Used by `npm test`, `npm run demo` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# One list of every Debian package bootos's build, tests, benchmarks and demo use.
APT_PACKAGES=(
  curl ca-certificates openssl nginx runc busybox-static cpio zstd squashfs-tools icu-devtools
  qemu-system-x86 qemu-system-arm qemu-utils ovmf qemu-efi-aarch64 ipxe-qemu
  mtools dosfstools e2fsprogs fdisk
  docker-registry skopeo containerd apache2-utils iproute2 podman umoci tini
  chromium
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}" >&2
  SUDO=()
  if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# npm packages: reinstall when package-lock.json is newer than the installed tree.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install-deps: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
