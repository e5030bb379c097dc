#!/usr/bin/env bash
# Runs a command inside the arm64 root with /proc, /sys and /dev mounted and a clean environment
# (the host's PIP_* settings point at host paths). `chroot.sh --umount ROOT` only unmounts.
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$0")/common.sh"

umount_all() {
    local root=$1 m
    for m in dev/pts dev sys proc; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
    done
    return 0
}

if [ "${1:-}" = "--umount" ]; then
    umount_all "$2"
    exit 0
fi

root="$ARM64_ROOT"
trap 'umount_all "$root"' EXIT
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/sys" || mount --rbind /sys "$root/sys"
mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# pip inside must trust the same certificates as the host's pip (a proxy may re-sign TLS).
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/xnorvision-host-ca.crt"

env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/xnorvision-host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/xnorvision-host-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
    nice -n "${XNV_ARM64_NICE:-10}" chroot "$root" "$@"
