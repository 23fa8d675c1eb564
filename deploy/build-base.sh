#!/usr/bin/env bash
# Builds the image caja's Dockerfile starts FROM, caja-base:bookworm, from Debian's own
# packages: no image registry is needed, only a Debian mirror.
#
#   sudo deploy/build-base.sh            # podman (the default)
#   sudo ENGINE=docker deploy/build-base.sh
#
# debootstrap lays out a minimal Debian 12 (bookworm) root file system (--variant=minbase:
# essential packages and apt, about 200 MB), which is imported as a one-layer image.
# Settings from the environment:
#   MIRROR  the Debian mirror (default http://deb.debian.org/debian, the one apt uses here;
#           see /etc/apt/sources.list.d/)
#   SECURITY  the Debian security mirror (default http://deb.debian.org/debian-security)
#   SUITE   the Debian release (default bookworm)
#   IMAGE   the image's name (default caja-base:bookworm)
#   ENGINE  podman or docker (default podman)
# Needs root (debootstrap creates device nodes and files owned by other users) and the
# debootstrap package. Takes about two minutes on a good connection.
set -euo pipefail

MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY="${SECURITY:-http://deb.debian.org/debian-security}"
SUITE="${SUITE:-bookworm}"
IMAGE="${IMAGE:-caja-base:bookworm}"
ENGINE="${ENGINE:-podman}"

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/caja-base.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log" >&2
  exit 1
}
rm -f "$rootfs.log"

# The image's apt reads the same mirror, and keeps no package lists or downloaded files.
printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
  "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SECURITY" "$SUITE" >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" --numeric-owner -c . | "$ENGINE" import \
  --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
echo "built $IMAGE from $SUITE at $MIRROR"
