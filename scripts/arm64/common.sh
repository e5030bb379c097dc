# shellcheck shell=bash disable=SC2034  # the variables are read by the scripts that source this
# Shared settings for the arm64 scripts (sourced, not run).
# The root lives outside the checkout so a fresh clone (CI) reuses it and `git clean` never touches it.
set -euo pipefail

ARM64_CACHE="${XNV_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xnorvision}"
ARM64_ROOT="$ARM64_CACHE/arm64-root"
ARM64_SUITE="${XNV_ARM64_SUITE:-bookworm}"          # Debian 12: python3.11, like the host
ARM64_MIRROR="${XNV_ARM64_MIRROR:-http://deb.debian.org/debian}"
# Packages inside the root: an interpreter, venv, headers and a C compiler for the Cython kernels.
ARM64_PACKAGES="python3,python3-venv,python3-dev,build-essential,ca-certificates"
# Bump when the recipe above changes; a root whose stamp differs is rebuilt.
ARM64_RECIPE="1 $ARM64_SUITE $ARM64_PACKAGES"
ARM64_STAMP="$ARM64_ROOT/.xnorvision-root-stamp"

log() { printf '[arm64] %s\n' "$*" >&2; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        log "needs root (debootstrap, chroot and mounts); rerun with sudo"
        exit 2
    fi
}
