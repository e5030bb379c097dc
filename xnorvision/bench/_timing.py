"""Timing helpers shared by the ``xnorvision bench`` commands.

The machines we measure on are shared: a single run can lose its core for milliseconds. So every number
is the best of several repeats (the run least disturbed by others), and speeds are reported as ratios
against baselines measured in the same run.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_PREFIXES = ("scipy_openblas_", "openblas_")
_SUFFIXES = ("64_", "")


def best_time(fn: Callable[[], object], repeats: int, min_seconds: float = 0.0) -> float:
    """Best wall time of ``fn`` over ``repeats`` calls and at least ``min_seconds``, after a warm-up."""
    fn()
    best = float("inf")
    start = time.perf_counter()
    done = 0
    while done < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        done += 1
    return best


def _openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    """numpy's OpenBLAS thread setter/getter, found among the loaded libraries (None if not OpenBLAS)."""
    import numpy  # noqa: F401  (loads the BLAS library)

    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                setter = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    getter.restype = ctypes.c_int
                    setter.argtypes = [ctypes.c_int]
                    return setter, getter
    return None


@contextmanager
def blas_threads(n: int) -> Iterator[bool]:
    """Run numpy's BLAS on ``n`` threads inside the block; yields False when the thread count can't be set."""
    found = _openblas()
    if found is None:
        yield False
        return
    set_threads, get_threads = found
    before = get_threads()
    set_threads(n)
    try:
        yield True
    finally:
        set_threads(before)
