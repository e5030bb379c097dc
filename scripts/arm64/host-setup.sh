#!/usr/bin/env bash
# Installs the host tools (debootstrap, qemu-user-static, binfmt-support) when missing and makes
# sure the kernel runs aarch64 ELF files through qemu (binfmt_misc), so plain `chroot` works.
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$0")/common.sh"
need_root

missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing host packages: ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Containers often lack the binfmt_misc mount; mounting it needs CAP_SYS_ADMIN (root in CI has it).
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
fi
enabled() { grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; }
enabled || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
# Registered but switched off (update-binfmts then believes it is on): switch it back on.
enabled || { [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && echo 1 >/proc/sys/fs/binfmt_misc/qemu-aarch64; } \
    2>/dev/null || true
if ! enabled; then
    log "cannot register qemu-aarch64 with binfmt_misc here (no CAP_SYS_ADMIN?)."
    log "on the host run: sudo update-binfmts --enable qemu-aarch64  (or docker run --privileged)"
    exit 2
fi
# The 'F' flag makes the kernel open the interpreter now, so it works inside the chroot too.
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || log "warning: qemu-aarch64 lacks the F flag"
