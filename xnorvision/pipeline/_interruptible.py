"""Blocking calls that Ctrl-C can interrupt.

Python runs a signal handler only between bytecodes of the main thread, so while the main thread sits
inside a C call (OpenCV opening a stream waits up to 30 s for a silent server) Ctrl-C does nothing. The
call runs on a worker thread instead while the main thread waits in short slices: Ctrl-C then interrupts
the wait at once, and the abandoned worker cleans up its result whenever the call returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["call_interruptibly"]


def call_interruptibly(fn: Callable[[], T], *, discard: Callable[[T], None] | None = None,
                       slice_s: float = 0.1) -> T:
    """``fn()``, computed on a daemon thread; an exception in this thread (Ctrl-C) abandons the wait.

    ``discard`` receives a result that arrives after the caller gave up (e.g. to release a capture).
    """
    lock = threading.Lock()
    outcome: dict[str, object] = {}
    abandoned = threading.Event()

    def work() -> None:
        try:
            value = fn()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome["error"] = exc
            return
        with lock:
            if not abandoned.is_set():
                outcome["value"] = value
                return
        if discard is not None:
            discard(value)

    worker = threading.Thread(target=work, name="xnorvision-blocking-call", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(slice_s)
    except BaseException:
        with lock:
            abandoned.set()
            late = outcome.pop("value", None)
        if late is not None and discard is not None:
            discard(late)  # type: ignore[arg-type]
        raise
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
