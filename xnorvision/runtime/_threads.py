"""Threads for the float layers: pools of sleeping Python threads instead of BLAS's own.

The binary kernels run on OpenMP threads. Letting OpenBLAS start a second pool of the same size makes the
two pools spin against each other between layers (on a busy machine a 2-thread run became 30x slower), so
BLAS runs on one thread while a model runs and the float layers split their work here; numpy releases the
GIL in matmul and copies, so the chunks run in parallel.

The count is per model, set for the calling Python thread while that model runs (:func:`using_threads`):
one model's ``threads`` never changes another's. Models of the same count share one pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from xnorvision.errors import XnorvisionError
from xnorvision.runtime import _blas

_local = threading.local()  # .threads: the count of the model this Python thread is running
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


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


class using_threads:
    """The float layers run by this Python thread inside the block use ``n`` threads (BLAS one).

    A class, not a generator: a model enters it on every run, and contextlib's machinery cost more than
    the work (~3 us of a faces proposal run's executor time).
    """

    __slots__ = ("n", "previous")

    def __init__(self, n: int) -> None:
        self.n, self.previous = n, 1

    def __enter__(self) -> None:
        self.previous = threads()
        _local.threads = self.n
        _blas.hold_single_threaded()

    def __exit__(self, *_: object) -> None:
        _blas.release_single_threaded()
        _local.threads = self.previous


def threads() -> int:
    """The calling thread's count (1 outside :func:`using_threads`)."""
    return getattr(_local, "threads", 1)


def _pool(n: int) -> ThreadPoolExecutor:
    """The shared pool of ``n - 1`` helpers (the caller is the n-th), started on first use."""
    with _pools_lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(n - 1, thread_name_prefix=f"xnv-float{n}")
        return _pools[n]


def run_chunks(fn: Callable[[int, int, int], None], count: int, grain: int = 1) -> None:
    """Call ``fn(worker, start, stop)`` over contiguous chunks of ``range(count)``, one chunk per thread.

    ``worker`` is the chunk's index (below :func:`threads`), so a chunk may use per-worker scratch buffers.
    Chunks are at least ``grain`` items: small jobs stay on the calling thread.
    """
    chunks = max(1, min(threads(), count // max(grain, 1)))
    if chunks == 1:
        fn(0, 0, count)
        return
    pool = _pool(threads())
    bounds = [count * k // chunks for k in range(chunks + 1)]
    futures = [pool.submit(fn, k, bounds[k], bounds[k + 1]) for k in range(1, chunks)]
    fn(0, bounds[0], bounds[1])
    for f in futures:
        f.result()
