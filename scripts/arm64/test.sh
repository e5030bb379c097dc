#!/usr/bin/env bash
# `make test-arm64`: builds (or reuses) the arm64 root, copies this checkout into it, installs it there
# without torch or PyQt5, compiles the Cython kernels with the aarch64 compiler (so the NEON path is the
# one built) and runs the kernel, runtime and pipeline tests under qemu. Then it installs the project as
# a Raspberry Pi user would (`pip install .` with its dependencies, no [gui] extra) and checks that the
# faces pipeline finds on the demo video what it finds on x86. Emulated speed means nothing; the answers
# must match the numpy references exactly as on x86.
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$0")/common.sh"
need_root
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
started=$(date +%s)
in_root() { "$here/chroot.sh" "$@"; }

"$here/host-setup.sh"
"$here/build-root.sh"

# 1. The checkout: tracked plus untracked-but-not-ignored files, i.e. what a commit would hold.
#    Compiled modules and the build stamp survive so an unchanged kernel is not rebuilt.
src="$ARM64_ROOT/work/src"
mkdir -p "$src"
find "$src" -mindepth 1 ! -type d ! -name '*.so' ! -name .arm64-build-stamp -delete
checkout() {  # the files of this checkout as a tar stream on stdout
    (cd "$repo" && git ls-files -z -co --exclude-standard) \
        | tar -C "$repo" --null --ignore-failed-read -T - -cf - 2>/dev/null
}
checkout | tar -C "$src" -xf -

# 2. A venv with the runtime and test dependencies, rebuilt when the requirement list changes.
venv=/opt/xnorvision-venv
reqs="$(in_root python3 /work/src/scripts/arm64/requirements.py /work/src/pyproject.toml)"
if [ "$(cat "$ARM64_ROOT$venv/.requirements" 2>/dev/null)" != "$reqs" ]; then
    log "creating $venv in the root"
    rm -rf "$ARM64_ROOT$venv"
    in_root python3 -m venv "$venv"
    printf '%s\n' "$reqs" >"$ARM64_ROOT/tmp/xnorvision-requirements.txt"
    # Wheels only: an sdist would compile under emulation for an hour instead of failing fast.
    in_root "$venv/bin/pip" install -q --only-binary=:all: -r /tmp/xnorvision-requirements.txt
    printf '%s' "$reqs" >"$ARM64_ROOT$venv/.requirements"
fi

# 3. The kernels, rebuilt from scratch whenever their sources, the build files or the venv change.
stamp="$({ printf '%s' "$reqs"; cd "$src" && find cython_kernels setup.py pyproject.toml -type f -print0 \
    | sort -z | xargs -0 sha256sum; } | sha256sum)"
if [ "$(cat "$src/.arm64-build-stamp" 2>/dev/null)" != "$stamp" ]; then
    log "building the kernels for aarch64"
    find "$src" -name '*.so' -delete
    # C that Cython generated on the host is regenerated here: the build must follow the .pyx.
    for pyx in "$src"/cython_kernels/*.pyx; do rm -f "${pyx%.pyx}.c"; done
    in_root sh -c "cd /work/src && $venv/bin/pip install -q --no-deps --no-build-isolation -e ."
    printf '%s' "$stamp" >"$src/.arm64-build-stamp"
fi
log "kernels ready after $(( $(date +%s) - started )) s"
in_root "$venv/bin/python" -c 'import platform
from xnorvision import kernels
print("[arm64] machine:", platform.machine(), "| popcount path:", kernels.simd_path())'

# 4. The tests that do not need torch or Qt.
dirs=()
for d in ${XNV_ARM64_TESTS:-tests/kernels tests/runtime tests/pipeline}; do
    [ -d "$src/$d" ] && dirs+=("$d")
done
if [ ${#dirs[@]} -eq 0 ]; then
    log "none of the test folders exist yet: only the build was checked"
else
    in_root sh -c "cd /work/src && $venv/bin/python -m pytest -q -p no:cacheprovider \
        --hypothesis-profile=arm64-emulated ${dirs[*]}"
fi

# 5. A Pi user's install: a clean copy of the checkout (no compiled modules, no build folder) and a fresh
#    venv, `pip install .` with every dependency and without the [gui] extra (PyQt5 has no aarch64 wheel),
#    the kernels compiled by pip's own isolated build. --prefer-binary: a dependency whose newest release
#    lacks an aarch64 wheel comes as an older wheel instead of an hour-long build under emulation.
pi_src=/work/pi-src
pi_venv=/opt/xnorvision-pi
log "installing as a Pi user would: pip install . (the kernels build under emulation: minutes)"
rm -rf "${ARM64_ROOT:?}$pi_src" "${ARM64_ROOT:?}$pi_venv"
mkdir -p "$ARM64_ROOT$pi_src"
checkout | tar -C "$ARM64_ROOT$pi_src" -xf -
in_root python3 -m venv "$pi_venv"
in_root sh -c "cd /tmp && $pi_venv/bin/pip install -q --prefer-binary $pi_src $pi_src/plugins/xnorvision-faces"
if in_root "$pi_venv/bin/python" -c 'import PyQt5' 2>/dev/null; then
    log "PyQt5 was installed without the [gui] extra: pyproject.toml's dependencies must not name it"
    exit 1
fi
# The faces pipeline, headless, on the demo video's frames as x86 decodes them (decoding differs between the
# two: see faces_check.py), with the command a user types, from outside the checkout so the installed
# package is the one that runs; then its detections against x86's.
host_python="${XNV_HOST_PYTHON:-$repo/.venv/bin/python}"
if ! "$host_python" -c 'import cv2' 2>/dev/null; then
    log "no x86 Python with OpenCV at $host_python to decode the demo frames: run make install (or set XNV_HOST_PYTHON)"
    exit 2
fi
rm -rf "${ARM64_ROOT:?}/tmp/faces-frames"
"$host_python" "$here/faces_check.py" frames "$ARM64_ROOT/tmp/faces-frames"
in_root sh -c "cd /tmp && $pi_venv/bin/python $pi_src/scripts/arm64/faces_check.py write /tmp/faces-arm64.jsonl \
    --frames /tmp/faces-frames"
in_root "$pi_venv/bin/python" "$pi_src/scripts/arm64/faces_check.py" compare \
    "$pi_src/scripts/arm64/faces_x86.jsonl" /tmp/faces-arm64.jsonl

# 6. The kernel benchmark must run on ARM too (on one small layer: see bench_smoke.py); its numbers are
#    qemu's, not a CPU's.
log "xnorvision bench kernels under qemu: proves it runs; EMULATED SPEED MEANS NOTHING"
in_root sh -c "cd /work/src && $venv/bin/python scripts/arm64/bench_smoke.py"
log "done in $(( $(date +%s) - started )) s"
