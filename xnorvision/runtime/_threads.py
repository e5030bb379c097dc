"""Threads for the float layers: one pool of sleeping Python threads instead of BLAS's own.

The binary kernels run on OpenMP threads. Letting OpenBLAS start a second pool of the same size makes the
two pools spin against each other between layers (on a busy machine a 2-thread run became 30x slower), so
BLAS is pinned to one thread and the float layers split their work here; numpy releases the GIL in matmul
and copies, so the chunks run in parallel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from xnorvision.errors import XnorvisionError
from xnorvision.runtime import _blas

_threads = 1
_pool: ThreadPoolExecutor | None = None


def cpu_count() -> int:
    """CPUs this process may run on: its affinity mask (a container's or ``taskset``'s), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def usable_threads(n: int) -> int:
    """``n`` capped at :func:`cpu_count`; not a positive integer is an error.

    The one check every thread count passes (``--threads`` of each command, ``Model(threads=)``): more
    threads than CPUs only spin against each other, and a typo like 100000 once started OpenMP threads
    until ``fork`` failed machine-wide.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise XnorvisionError(f"threads must be a positive integer, got {n!r}")
    return min(n, cpu_count())


def set_threads(n: int) -> None:
    """Use ``n`` threads for the float layers (process-wide, like the kernels' thread count)."""
    global _threads, _pool
    _blas.set_num_threads(1)
    if n != _threads:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(n - 1, thread_name_prefix="xnv-float") if n > 1 else None
        _threads = n


def threads() -> int:
    return _threads


def run_chunks(fn: Callable[[int, int, int], None], count: int, grain: int = 1) -> None:
    """Call ``fn(worker, start, stop)`` over contiguous chunks of ``range(count)``, one chunk per thread.

    ``worker`` is the chunk's index (below :func:`threads`), so a chunk may use per-worker scratch buffers.
    Chunks are at least ``grain`` items: small jobs stay on the calling thread.
    """
    chunks = max(1, min(_threads, count // max(grain, 1)))
    if chunks == 1 or _pool is None:
        fn(0, 0, count)
        return
    bounds = [count * k // chunks for k in range(chunks + 1)]
    futures = [_pool.submit(fn, k, bounds[k], bounds[k + 1]) for k in range(1, chunks)]
    fn(0, bounds[0], bounds[1])
    for f in futures:
        f.result()
