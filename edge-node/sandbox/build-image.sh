#!/usr/bin/env bash
# Builds the sandbox image jobs run in, locally (no registry is reachable): a Debian
# bookworm minbase userland (glibc, so the node's own binaries — the prompt agent and the
# inference proxy — run inside it) with git, python3, ca-certificates and busybox (for
# nc and friends), a non-root user 1000 ("sandbox") and a /workspace for the job's files.
#
# The debootstrapped root is cached as a tarball under ~/.cache/cynode (38 s and ~390 MB
# once); the image is re-imported only when this script changes.
#
#   edge-node/sandbox/build-image.sh [image]   (default localhost/cynode-sandbox:latest)
set -euo pipefail

image=${1:-localhost/cynode-sandbox:latest}
suite=bookworm
packages=git,ca-certificates,python3,busybox
mirror=${CYNODE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/cynode"
recipe=$(sha256sum "$0" | cut -c1-16)
rootfs_tar="$cache/sandbox-rootfs-$suite-$recipe.tar"

for tool in podman debootstrap; do
    if ! command -v "$tool" >/dev/null; then
        echo "build-image: $tool is not installed (scripts/install-deps installs it)" >&2
        exit 1
    fi
done

current=$(podman image inspect --format '{{index .Labels "org.cynode.sandbox.recipe"}}' "$image" 2>/dev/null || true)
if [ "$current" = "$recipe" ]; then
    echo "build-image: $image is up to date"
    exit 0
fi

if [ ! -s "$rootfs_tar" ]; then
    echo "build-image: debootstrapping Debian $suite (once, cached in $rootfs_tar)"
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
        tail -n 20 "$rootfs.log" >&2
        echo "build-image: debootstrap from $mirror failed (set CYNODE_DEBIAN_MIRROR to another mirror)" >&2
        exit 1
    fi
    rm -f "$rootfs.log"
    chroot "$rootfs" /bin/sh -c '
        set -e
        groupadd -g 1000 sandbox
        useradd -u 1000 -g 1000 -d /workspace -s /bin/sh sandbox
        mkdir -p /workspace /job /opt/cynode/bin
        chown 1000:1000 /workspace
        for applet in nc wget; do
            command -v "$applet" >/dev/null || ln -s /bin/busybox "/usr/local/bin/$applet"
        done
        apt-get clean
        rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
    '
    mkdir -p "$cache"
    rm -f "$cache"/sandbox-rootfs-"$suite"-*.tar
    tar -C "$rootfs" --numeric-owner -cf "$rootfs_tar.tmp" .
    mv "$rootfs_tar.tmp" "$rootfs_tar"
fi

podman import --quiet \
    --change 'USER=1000' \
    --change 'WORKDIR=/workspace' \
    --change 'ENV=PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV=LANG=C.UTF-8' \
    --change 'CMD=["/bin/sh"]' \
    --change "LABEL=org.cynode.sandbox=debian-$suite" \
    --change "LABEL=org.cynode.sandbox.recipe=$recipe" \
    "$rootfs_tar" "$image" >/dev/null
echo "build-image: built $image"
