#!/bin/sh
# cage 0.1.4 (Debian 12) will not start without an Xwayland binary, though it starts one only when an X client
# connects, and nothing in this image is an X client. This stands in for it and refuses to be an X server.
echo "no-xwayland: this image has no X server" >&2
exit 1
