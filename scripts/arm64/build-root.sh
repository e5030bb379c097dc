#!/usr/bin/env bash
# Builds the arm64 Debian root with debootstrap (second stage under qemu) unless a valid one is cached.
# Valid = the stamp file holds the current recipe; anything else (absent, half-built, old) is rebuilt.
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$0")/common.sh"
need_root

if [ -f "$ARM64_STAMP" ] && [ "$(cat "$ARM64_STAMP")" = "$ARM64_RECIPE" ]; then
    log "reusing root $ARM64_ROOT"
    exit 0
fi

tmp="$ARM64_ROOT.building"
"$(dirname "$0")/chroot.sh" --umount "$tmp" 2>/dev/null || true
rm -rf --one-file-system "$tmp"
mkdir -p "$ARM64_CACHE"
log "building $ARM64_SUITE arm64 root in $tmp (several minutes under emulation)"
start=$(date +%s)
nice -n 10 debootstrap --arch=arm64 --variant=minbase --include="$ARM64_PACKAGES" \
    "$ARM64_SUITE" "$tmp" "$ARM64_MIRROR" >"$ARM64_CACHE/debootstrap.log" 2>&1 || {
    log "debootstrap failed; tail of $ARM64_CACHE/debootstrap.log:"
    tail -n 20 "$ARM64_CACHE/debootstrap.log" >&2
    exit 1
}
chroot "$tmp" apt-get clean
echo "$ARM64_RECIPE" >"$tmp/.xnorvision-root-stamp"
"$(dirname "$0")/chroot.sh" --umount "$ARM64_ROOT" 2>/dev/null || true
rm -rf --one-file-system "$ARM64_ROOT"
mv "$tmp" "$ARM64_ROOT"
log "root built in $(( $(date +%s) - start )) s"
