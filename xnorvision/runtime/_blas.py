"""Set the thread count of numpy's BLAS (the float layers' matmuls) without extra dependencies.

numpy wheels bundle OpenBLAS under a prefixed symbol name; when it cannot be found (another BLAS, another
platform) this does nothing and the float layers use whatever the BLAS decides.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

_SYMBOLS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")


@functools.cache
def _setter() -> Callable[[int], None] | None:
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for lib_path in sorted(libs.glob("*openblas*")) if libs.is_dir() else []:
        try:
            lib = ctypes.CDLL(str(lib_path))
        except OSError:
            continue
        for name in _SYMBOLS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_int], None
                return fn
    return None


def set_num_threads(n: int) -> bool:
    """Ask the BLAS for ``n`` threads; return whether a BLAS took the request."""
    fn = _setter()
    if fn is not None:
        fn(n)
    return fn is not None
