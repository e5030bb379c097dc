"""Whether a window can open here, asked of Qt itself (in a child process) rather than guessed.

A ``DISPLAY`` or ``WAYLAND_DISPLAY`` left over from an old session names a display with no server behind
it; Qt then aborts the whole process (exit 134) when the window opens, after the run has started. So
``run`` and ``doctor`` both ask :func:`display_available`, which starts Qt once in a child process with a
timeout: the child may abort, the app goes headless with a warning instead.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys

PROBE_TIMEOUT_SECONDS = 10.0
_PROBE = "import sys\nfrom PyQt5.QtGui import QGuiApplication\nQGuiApplication(sys.argv[:1])\n"


def named_display() -> str | None:
    """The display the environment names (``DISPLAY``, else ``WAYLAND_DISPLAY``), or None.

    Off Linux, windows need no such variable: the desktop is always named.
    """
    if not sys.platform.startswith("linux"):
        return "the desktop"
    return os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or None


def display_available() -> bool:
    """Whether a window can open: a display is named and Qt really connects to it."""
    if named_display() is None:
        return False
    if not sys.platform.startswith("linux") or importlib.util.find_spec("PyQt5") is None:
        return True  # nothing to probe with; the window's own check names what is missing
    env = tuple(os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XAUTHORITY"))
    return _qt_starts(env)


@functools.cache
def _qt_starts(env: tuple[str | None, ...]) -> bool:
    """Qt opens its platform (connects to the display) in a child process; ``env`` keys the cache."""
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True,
                              timeout=PROBE_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0
