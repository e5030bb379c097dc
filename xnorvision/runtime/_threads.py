"""Threads for the float layers: one pool of sleeping Python threads instead of BLAS's own.

The binary kernels run on OpenMP threads. Letting OpenBLAS start a second pool of the same size makes the
two pools spin against each other between layers (on a busy machine a 2-thread run became 30x slower), so
BLAS is pinned to one thread and the float layers split their work here; numpy releases the GIL in matmul
and copies, so the chunks run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from xnorvision.runtime import _blas

_threads = 1
_pool: ThreadPoolExecutor | None = None


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
