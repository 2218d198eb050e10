#!/bin/sh
# The display image's entrypoint: cage (a kiosk Wayland compositor) shows one full-screen cog (WPE WebKit) window on
# the kiosk page of the agent. Everything renders in software (pixman in cage, llvmpipe in WebKit), so it runs on
# QEMU's virtio-gpu and std VGA and on any PC's simpledrm; no logind: libseat's builtin backend opens the DRM and
# input devices that the agent binds into the container (the app's uid is in the video and input groups).
set -eu
# Where the kiosk is: the agent passes its own address on the app's veth (docs/security.md, "the display app").
url=${BOOTOS_KIOSK_URL:-http://127.0.0.1:8080/}
# Wayland's sockets go to the runtime dir: /tmp, a fresh tmpfs of this container for each run (the root is
# read-only and the image has no mkdir); nothing else shares it.
export XDG_RUNTIME_DIR=/tmp
exec /usr/bin/cage -- /usr/bin/cog "$url"
