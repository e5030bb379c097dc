"""Install checks for ``xnorvision doctor`` and the camera probe for ``xnorvision cameras``.

Each check says what it found and, when something is wrong, what to run to fix it. Qt is inspected
without importing its GUI classes, so the core stays Qt-free.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import cv2

from xnorvision.errors import SourceError
from xnorvision.pipeline._display import display_available, named_display
from xnorvision.pipeline._sources import MAX_CAMERA_INDEX, try_camera

OPENCV_WHEELS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                 "opencv-contrib-python-headless")
SIMD_FLAGS = ("popcnt", "avx2", "avx512f", "avx512_vpopcntdq", "neon")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "WARN" or "FAIL"
    detail: str


def check_opencv() -> Check:
    installed = []
    for dist in OPENCV_WHEELS:
        try:
            installed.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    if len(installed) > 1:
        return Check("opencv", "FAIL", f"{' and '.join(installed)} are installed and overwrite each other's "
                     "cv2; keep one: pip uninstall opencv-python && pip install --force-reinstall "
                     "opencv-python-headless")
    return Check("opencv", "ok", f"cv2 {cv2.__version__} from {installed[0] if installed else 'unknown'}")


def _missing_libraries(library: Path) -> list[str]:
    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


# PyQt5 is the optional [gui] extra: it publishes no aarch64 wheel, so a Raspberry Pi install goes without.
GUI_INSTALL = "pip install 'xnorvision[gui]' (or the distribution's PyQt5, e.g. apt install python3-pyqt5)"


def qt_installed() -> bool:
    """Whether PyQt5, which only the window needs, is importable (checked without importing it)."""
    return importlib.util.find_spec("PyQt5") is not None


def check_qt() -> Check:
    spec = importlib.util.find_spec("PyQt5")
    if spec is None or spec.origin is None:
        return Check("qt", "WARN", f"PyQt5 is not installed: `run` goes headless; for the window: "
                     f"{GUI_INSTALL}")
    platforms = Path(spec.origin).parent / "Qt5" / "plugins" / "platforms"
    names = sorted(p.name for p in platforms.glob("libq*.so"))
    if not names and platform.system() == "Linux":
        return Check("qt", "FAIL", f"no Qt platform plugins in {platforms}; reinstall: "
                     "pip install --force-reinstall pyqt5-qt5")
    xcb = platforms / "libqxcb.so"
    missing = _missing_libraries(xcb) if xcb.exists() else []
    if missing:
        return Check("qt", "WARN", f"the X11 platform plugin lacks {', '.join(missing)}; on Debian/Ubuntu: "
                     "apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-image0 "
                     "libxcb-render-util0 libxkbcommon-x11-0")
    if display_available():
        where = "a display is available"
    elif named_display() is None:
        where = "no display: `run` goes headless"
    else:
        where = f"display {named_display()} does not answer (no server there?): `run` goes headless"
    return Check("qt", "ok", f"platform plugins {', '.join(n[4:-3] for n in names) or 'bundled'}; {where}")


def window_problem() -> str | None:
    """Why the window cannot open here, or None: checked first, because Qt aborts the process instead."""
    check = check_qt()
    platform_name = os.environ.get("QT_QPA_PLATFORM", "xcb")
    if check.status == "ok" or (check.status == "WARN" and not platform_name.startswith("xcb")):
        return None
    return f"cannot open a window: {check.detail}; or run with --headless"


def cpu_flags() -> set[str]:
    """The SIMD features the compiled kernels detect at run time.

    Not /proc/cpuinfo: under qemu-user emulation that file describes the host, not the emulated CPU.
    """
    try:
        from xnorvision import kernels
    except ImportError:  # not compiled: check_kernels says so
        return set()
    return {name for name, present in kernels.cpu_features().items() if present}


def kernel_paths() -> str:
    """The paths the kernels run here: "avx512" or, where the float kernels take another, "avx512, float
    kernels avx2" (empty when the kernels are not compiled: check_kernels says so)."""
    try:
        from xnorvision import kernels
    except ImportError:
        return ""
    popcount, floats = kernels.simd_path(), kernels.float_path()
    return popcount if floats == popcount else f"{popcount}, float kernels {floats}"


def check_cpu() -> Check:
    found = [f for f in SIMD_FLAGS if f in cpu_flags()]
    if not found:
        return Check("cpu", "WARN", f"{platform.machine()}: no popcount/SIMD flags found; the kernels use "
                     "their portable path")
    paths = kernel_paths()
    return Check("cpu", "ok", f"{platform.machine()}, {os.cpu_count()} cores: {' '.join(found)}"
                 + (f" (kernels: {paths})" if paths else ""))


def check_kernels(package: Path | None = None) -> Check:
    """The compiled ``xnorvision._*`` extension modules are there and import."""
    package = package or Path(importlib.util.find_spec("xnorvision").origin).parent
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    modules = sorted({p.name.split(".")[0] for p in package.glob("_*") if p.name.endswith(suffixes)})
    if not modules:
        return Check("kernels", "FAIL", "no compiled kernels in the package; build them: "
                     "pip install --no-build-isolation -e .")
    broken = []
    for name in modules:
        try:
            importlib.import_module(f"xnorvision.{name}")
        except ImportError as exc:
            broken.append(f"{name} ({exc})")
    if broken:
        return Check("kernels", "FAIL", f"cannot import {', '.join(broken)}; rebuild: pip install "
                     "--no-build-isolation -e .")
    return Check("kernels", "ok", f"compiled: {', '.join(modules)}")


def check_plugins() -> Check:
    from xnorvision.plugins import load_registry

    registry = load_registry(strict=False)
    bad = [f"{p.name} ({p.error})" for p in registry.plugins if p.error]
    names = ", ".join(p.name for p in registry.plugins) or "none installed"
    if bad:
        return Check("plugins", "WARN", f"failed to load: {'; '.join(bad)}; details: xnorvision plugins")
    return Check("plugins", "ok", names)


def run_checks() -> list[Check]:
    return [Check("python", "ok", platform.python_version()), check_opencv(), check_qt(), check_cpu(),
            check_kernels(), check_plugins()]


def probe_cameras(max_index: int = 8) -> dict[int, tuple[int, int]]:
    """Camera indices below ``max_index`` that open and give a frame, with the frame's (width, height)."""
    top = MAX_CAMERA_INDEX + 1
    if isinstance(max_index, bool) or not isinstance(max_index, int) or not 1 <= max_index <= top:
        raise SourceError(f"--max-index {max_index!r}: must be 1..{top} (tries indices 0..N-1)")
    found: dict[int, tuple[int, int]] = {}
    for index in range(max_index):
        cap = try_camera(index)
        if cap is None:
            continue
        ok, frame = cap.read()
        cap.release()
        if ok:
            found[index] = (frame.shape[1], frame.shape[0])
    return found
