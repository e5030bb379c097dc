"""The signals that ask a run to stop, and the one place that routes them to a handler.

Ctrl-C (SIGINT), a service manager or ``kill`` (SIGTERM) and a closed terminal (SIGHUP) all mean "stop":
each must end a run the same way, between frames, with the sinks closed so a saved video keeps its index.
The headless runner and the window both install their handler through :func:`handle_stop_signals`.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

Handler = Callable[[int, FrameType | None], object]
_early_interrupt = threading.Event()


def remember_early_interrupts() -> None:
    """Until a run installs its handler, every stop signal raises KeyboardInterrupt as Python's default
    does for Ctrl-C, and is also noted: C code running an import (OpenCV's, numpy's) can swallow the
    exception, never the note, and the next :func:`handle_stop_signals` block delivers it, so the run stops
    before its first frame. So SIGTERM and SIGHUP also end every other command (bench, eval, train, tables)
    as Ctrl-C does: its cleanup runs (no temporary file, no half output) and it exits 130, not 143/129."""
    _early_interrupt.clear()
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, _note_and_raise)
        if sys.unraisablehook is not _quiet_noted_interrupts:
            _hooks.append(sys.unraisablehook)
            sys.unraisablehook = _quiet_noted_interrupts


_hooks: list[Callable[[object], object]] = []  # the unraisable hook that was there before ours


def _quiet_noted_interrupts(unraisable: object) -> None:
    """A stop signal whose KeyboardInterrupt was raised where Python cannot raise (an import lock's weakref
    callback, a ``__del__``) is printed with a traceback as "Exception ignored in ...": it is noted, and
    the next handle_stop_signals block delivers it, so say nothing (1 of ~40 Ctrl-Cs 0.1 s into ``run``)."""
    if isinstance(getattr(unraisable, "exc_value", None), KeyboardInterrupt) and _early_interrupt.is_set():
        return
    _hooks[-1](unraisable)


def _note_and_raise(signum: int, frame: FrameType | None) -> None:
    _early_interrupt.set()
    raise KeyboardInterrupt


def raise_if_stop_noted() -> None:
    """Raise KeyboardInterrupt (once) if a stop signal was noted that C code swallowed: for a long command
    outside a run's handler to call between its steps. ``bench model`` imports onnxruntime while it builds
    its peers; a SIGTERM handled inside that import came back as an ImportError, the peer's row took it as
    its error and the benchmark went on for its whole time (2 of 40 tries, killed about 1.5 s in)."""
    if _early_interrupt.is_set():
        _early_interrupt.clear()
        raise KeyboardInterrupt


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
        if _early_interrupt.is_set():  # a Ctrl-C that reached no handler while the run was being set up
            _early_interrupt.clear()
            handler(signal.SIGINT, None)
        yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)
