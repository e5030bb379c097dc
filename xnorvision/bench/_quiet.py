"""Waiting, before a runtime's timed slice, until the other threads of this process have gone idle.

A runtime's thread pool may go on spinning after its last call returns: on the 2-core VM one of
onnxruntime's threads kept a core busy for tens of milliseconds after each of its slices, and the runtime
timed next (openvino-float32, in `bench model`) ran its first calls with half a core less, charged for
onnxruntime's idle spinning. Each slice now starts once the others' threads have gone quiet, so no runtime
pays for another's; `bench model --json` gives each runtime's median wait (``quiet_wait_ms``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

#: a window in which the other threads ran less than this share of it is quiet
QUIET_SHARE = 0.1
_TASKS = Path("/proc/self/task")


def other_threads_cpu_ns() -> int | None:
    """CPU time (ns) that this process's threads other than the caller have run so far, or None where the
    kernel does not say (no ``/proc/self/task/*/schedstat``: not Linux)."""
    me = _TASKS / str(threading.get_native_id())
    if not (me / "schedstat").is_file():
        return None
    total = 0
    for task in _TASKS.iterdir():
        if task == me:
            continue
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
    return total


def wait_until_quiet(window_s: float = 0.005, limit_s: float = 1.0) -> float:
    """Sleep in windows of ``window_s`` until one in which the other threads ran for less than
    :data:`QUIET_SHARE` of it, at most ``limit_s`` (a thread that never rests, someone else's, must not
    hang the benchmark); where their CPU time cannot be read, sleep ``limit_s / 10`` once. Returns the
    seconds waited."""
    start = time.perf_counter()
    before = other_threads_cpu_ns()
    if before is None:
        time.sleep(limit_s / 10)
        return time.perf_counter() - start
    while time.perf_counter() - start < limit_s:
        t0 = time.perf_counter()
        time.sleep(window_s)
        now = other_threads_cpu_ns()
        elapsed = time.perf_counter() - t0
        if now is None or now - before < QUIET_SHARE * elapsed * 1e9:
            break
        before = now
    return time.perf_counter() - start
