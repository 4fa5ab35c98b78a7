#!/usr/bin/env bash
# Builds the image the tests and the demo run, swarmlet-test/busybox:1, without any registry: a root filesystem of
# Debian's static busybox and its applets, imported into the engine.
#
# Usage: build/test-image.sh [ENGINE]   ENGINE is DOCKER_HOST-style (unix:///run/docker-h1.sock); default $DOCKER_HOST,
#                                       else the local engine. Does nothing when the image is already there.
set -euo pipefail

IMAGE=swarmlet-test/busybox:1
BUSYBOX=/bin/busybox

if [[ -n "${1:-}" ]]; then export DOCKER_HOST="$1"; fi
engine="${DOCKER_HOST:-the local engine}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "test-image: $IMAGE present in $engine"
  exit 0
fi

# The image has no libc: a dynamically linked busybox (Debian's plain "busybox" package) would not start in it.
if [[ ! -x "$BUSYBOX" ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "test-image: $BUSYBOX is missing or not static; install it with: apt-get install -y busybox-static" >&2
  exit 1
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/www,proc,sys,dev}
chmod 1777 "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
# Every applet at its usual path (bin/sh, usr/bin/wget, sbin/httpd...), so commands in specs read as on any Linux.
for applet in $("$BUSYBOX" --list-full); do
  [[ -e "$rootfs/$applet" ]] || ln -s /bin/busybox "$rootfs/$applet"
done
# Users for tools that look names up (id, httpd -u, ps); the engine provides /etc/hosts and /etc/resolv.conf.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
echo 'swarmlet test page' >"$rootfs/var/www/index.html"

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
  docker import -c 'CMD ["sh"]' -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' -m 'swarmlet offline test image' - "$IMAGE" >/dev/null
echo "test-image: built $IMAGE in $engine ($("$BUSYBOX" --list | wc -l) busybox applets)"
