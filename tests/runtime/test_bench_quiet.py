"""`bench model` starts each runtime's slice once the threads the runtime before it left spinning are idle."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from xnorvision.bench._model import time_interleaved
from xnorvision.bench._quiet import other_threads_cpu_ns, wait_until_quiet

pytestmark = pytest.mark.skipif(other_threads_cpu_ns() is None,
                                reason="no per-thread CPU times here (/proc/self/task/*/schedstat)")

_DATA = bytes(1 << 20)


def _spin_until(end: float) -> None:
    """Busy, off the GIL (hashlib releases it for large buffers), until ``end``: a thread pool spinning."""
    while time.perf_counter() < end:
        hashlib.sha256(_DATA).digest()


def _spinning(seconds: float) -> tuple[threading.Thread, float]:
    end = time.perf_counter() + seconds
    thread = threading.Thread(target=_spin_until, args=(end,), daemon=True)
    thread.start()
    return thread, end


def test_a_process_whose_other_threads_sleep_is_quiet_at_once() -> None:
    assert wait_until_quiet(window_s=0.005) < 0.1


def test_it_waits_while_another_thread_runs_and_no_longer() -> None:
    thread, end = _spinning(0.3)
    time.sleep(0.02)
    waited = wait_until_quiet(window_s=0.005, limit_s=5.0)
    assert time.perf_counter() >= end  # not before the spinning ended
    assert time.perf_counter() - end < 0.5  # and soon after it
    assert waited > 0.2
    thread.join()


def test_a_thread_that_never_rests_does_not_hang_it() -> None:
    thread, _ = _spinning(1.5)
    time.sleep(0.02)
    assert 0.2 <= wait_until_quiet(window_s=0.005, limit_s=0.2) < 0.6
    thread.join()


def test_the_slice_after_a_runtime_that_leaves_a_thread_spinning_waits_for_it() -> None:
    spun: list[float] = []  # when the spinning thread stops
    starts: list[float] = []  # when the next runtime's slices begin

    def leaves_a_thread_spinning() -> None:
        if not spun:
            spun.append(_spinning(0.3)[1])

    def next_runtime() -> None:
        if len(starts) < 1:
            starts.append(time.perf_counter())

    waits: dict[str, list[float]] = {}
    time_interleaved({"spinning": leaves_a_thread_spinning, "next": next_runtime}, 0.02, slice_s=0.01,
                     warmup=0, waits=waits)
    assert starts and starts[0] >= spun[0]
    assert len(waits["spinning"]) == len(waits["next"]) == 2 and waits["next"][0] > 0.2  # what bench reports
