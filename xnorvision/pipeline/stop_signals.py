"""The signals that ask a run to stop, and the one place that routes them to a handler.

Ctrl-C (SIGINT), a service manager or ``kill`` (SIGTERM) and a closed terminal (SIGHUP) all mean "stop":
each must end a run the same way, between frames, with the sinks closed so a saved video keeps its index.
The headless runner and the window both install their handler through :func:`handle_stop_signals`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

Handler = Callable[[int, FrameType | None], object]


@contextmanager
def handle_stop_signals(handler: Handler) -> Iterator[bool]:
    """Route every stop signal to ``handler`` inside the block; the previous handlers come back after it.

    Python runs signal handlers on the main thread only, so elsewhere nothing is installed and the block
    gets ``False`` (whoever owns the main thread handles the signals then, as the window does).
    """
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)
