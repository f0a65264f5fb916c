#!/usr/bin/env bash
# Builds the sandbox image jobs run in, locally (no registry is reachable): a static
# busybox in an otherwise empty root, with a non-root user 1000 ("sandbox") and a
# /workspace for the job's files. Imported with `podman import`; about 2 MB.
#
#   edge-node/sandbox/build-image.sh [image]   (default localhost/cynode-sandbox:latest)
set -euo pipefail

image=${1:-localhost/cynode-sandbox:latest}
busybox=${BUSYBOX:-/bin/busybox}

if ! command -v podman >/dev/null; then
    echo "build-image: podman is not installed (apt-get install podman runc)" >&2
    exit 1
fi
linkage=$(ldd "$busybox" 2>&1 || true)
if [ ! -x "$busybox" ] || [[ $linkage != *"not a dynamic executable"* ]]; then
    echo "build-image: $busybox is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,workspace,job,proc,sys,dev}
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/workspace:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
GROUP
chmod 1777 "$rootfs/tmp"
chown 1000:1000 "$rootfs/workspace"

tar -C "$rootfs" --numeric-owner -cf - . | podman import --quiet \
    --change 'USER=1000' \
    --change 'WORKDIR=/workspace' \
    --change 'ENV=PATH=/bin' \
    --change 'CMD=["/bin/sh"]' \
    --change 'LABEL=org.cynode.sandbox=busybox' \
    - "$image" >/dev/null
echo "build-image: built $image"
