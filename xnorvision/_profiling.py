"""Where one stage's time goes on one frame: its models' steps by op kind, and the sub-steps it names.

The pipeline opens a :class:`Span` around a stage only when a profile is being taken (``--profile``);
``Model.run`` and :func:`timed` look for it in a context variable and, finding none, read no clock, so
profiling off costs one lookup per model run and per named step. Times are exclusive: a model run or a
named step inside another named step is taken out of the outer one, so a stage's rows add up to what
was measured, and its remainder is the stage's own unnamed time.

Stdlib only: the runtime (below the pipeline) and the public API (``api.timed``) import it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")
#: a row of a stage: ("", step) for a step the stage names, (model, op kind) for time inside a model
Row = tuple[str, str]
#: the model's time outside its steps: input normalisation, thread settings, copying the outputs out
EXECUTOR = "executor"

_span: ContextVar[Span | None] = ContextVar("xnorvision_profile_span", default=None)


class Span:
    """The times recorded for one stage on one frame, by row, in the order they first ran."""

    def __init__(self) -> None:
        self.seconds: dict[Row, float] = {}
        self._inner: list[float] = []  # per open named step: the time of what ran inside it

    def add(self, row: Row, seconds: float) -> None:
        self.seconds[row] = self.seconds.get(row, 0.0) + seconds

    def enter(self) -> None:
        self._inner.append(0.0)

    def leave(self, elapsed: float) -> float:
        """Close the innermost open step: its own time (``elapsed`` less what ran inside it), and charge
        ``elapsed`` to the step around it."""
        own = elapsed - self._inner.pop()
        if self._inner:
            self._inner[-1] += elapsed
        return own

    def time_model(self, model: str, kinds: Sequence[str], run: Callable[[Callable[[int, float], None]], T]
                   ) -> T:
        """``run(on_step)``, one model's run, with its steps' times summed by op kind (``kinds[i]`` is step
        ``i``'s) and the rest of the run as :data:`EXECUTOR`."""
        by_kind = dict.fromkeys(kinds, 0.0)

        def on_step(i: int, seconds: float) -> None:
            by_kind[kinds[i]] += seconds

        self.enter()
        start = time.perf_counter()
        out = run(on_step)
        elapsed = time.perf_counter() - start
        self.leave(elapsed)
        for kind, seconds in by_kind.items():
            self.add((model, kind), seconds)
        self.add((model, EXECUTOR), elapsed - sum(by_kind.values()))
        return out


def current_span() -> Span | None:
    """The span of the stage being profiled on this thread, or None (profiling off)."""
    return _span.get()


@contextmanager
def recording(span: Span) -> Iterator[Span]:
    """Record what runs inside the block (on this thread) into ``span``."""
    token = _span.set(span)
    try:
        yield span
    finally:
        _span.reset(token)


class _Timed:
    """One named step being timed into a span."""

    __slots__ = ("_span", "_step", "_start")

    def __init__(self, span: Span, step: str) -> None:
        self._span, self._step, self._start = span, step, 0.0

    def __enter__(self) -> None:
        self._span.enter()
        self._start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        own = self._span.leave(time.perf_counter() - self._start)
        self._span.add(("", self._step), own)


class _Off:
    """What :func:`timed` gives while nothing is profiled: enters and leaves, reads no clock."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_OFF = _Off()


def timed(step: str) -> _Timed | _Off:
    """``with timed("shrink"): ...``: a stage names a part of its work for ``--profile``.

    The block's time (less any model run or named step inside it) is a row of the stage's profile; while
    nothing is profiled this reads no clock. Use a few coarse names (``shrink``, ``decode``, ``NMS``): a
    step run several times in a frame adds up into one row.
    """
    span = _span.get()
    return _OFF if span is None else _Timed(span, step)
