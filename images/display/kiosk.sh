#!/bin/sh
# The display image's entrypoint: cage (a kiosk Wayland compositor) shows one full-screen cog (WPE WebKit) window on
# the kiosk page of the agent, or cog alone on a card that cage cannot drive. Everything renders in software (pixman
# in cage, llvmpipe in WebKit), so it runs on QEMU's virtio-gpu and std VGA; no logind: libseat's builtin backend (or
# cog itself) opens the DRM and input devices that the agent binds into the container (the app's uid is in the video
# and input groups), and libinput finds the keyboards and mice in the udev entries the agent writes (udev-db.ts).
set -eu
# Where the kiosk is: the agent passes its own address on the app's veth (docs/security.md, "the display app").
url=${BOOTOS_KIOSK_URL:-http://127.0.0.1:8080/}
# Wayland's sockets go to the runtime dir: /tmp, a fresh tmpfs of this container for each run (the root is
# read-only and the image has no mkdir); nothing else shares it.
export XDG_RUNTIME_DIR=/tmp
# A card without a render node (QEMU's std VGA, the bochs driver) cannot import another device's buffers (no PRIME
# import), which wlroots 0.15 requires of every card; there cog draws on the card itself, through its own DRM
# platform and no compositor (docs/decisions.md, "the display image").
set -- /dev/dri/renderD*
if [ -e "$1" ]; then exec /usr/bin/cage -- /usr/bin/cog "$url"; fi
exec /usr/bin/cog --platform=drm "$url"
