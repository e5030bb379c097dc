"""Numpy's BLAS on one thread while a model runs, without extra dependencies, then back as it was.

numpy wheels bundle OpenBLAS under a prefixed symbol name; when it cannot be found (another BLAS, another
platform) this does nothing and the float layers use whatever the BLAS decides.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from pathlib import Path

import numpy as np

_PREFIXES = ("scipy_openblas_", "openblas_")
_SUFFIXES = ("64_", "")
_lock = threading.Lock()
_holders = 0  # runs inside single_threaded() now, over all Python threads
_saved = 1  # the BLAS's thread count before the first of them


@functools.cache
def _library() -> tuple[ctypes._CFuncPtr, ctypes._CFuncPtr] | None:
    """OpenBLAS's (set_num_threads, get_num_threads), or None."""
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for lib_path in sorted(libs.glob("*openblas*")) if libs.is_dir() else []:
        try:
            lib = ctypes.CDLL(str(lib_path))
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                setter = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    return setter, getter
    return None


def hold_single_threaded() -> None:
    """BLAS on one thread until the matching :func:`release_single_threaded`; the last holder (of any
    Python thread) to release restores it.

    The float layers bring their own threads (``_threads``): a second, spinning BLAS pool fought them (a
    2-thread run became 30x slower on a busy machine). The user's own numpy keeps its setting otherwise.
    Two plain calls rather than a context manager: a model makes them on every run.
    """
    global _holders, _saved
    fns = _library()
    if fns is None:
        return
    setter, getter = fns
    with _lock:
        if _holders == 0:
            _saved = getter()
            setter(1)
        _holders += 1


def release_single_threaded() -> None:
    """End one :func:`hold_single_threaded`."""
    global _holders
    fns = _library()
    if fns is None:
        return
    with _lock:
        _holders -= 1
        if _holders == 0:
            fns[0](_saved)
