"""Plugin sources and sinks behind a guard: whatever they raise becomes one error that names them.

A plugin's ``read``, ``write`` or ``close`` may raise anything; the user should read "sink 'csv' of plugin
'vehicles' failed to write: ..." and get exit 2, not an internal error. ``XnorvisionError`` passes as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from xnorvision.errors import PLUGIN_FAILURES, SinkError, SourceError, XnorvisionError

if TYPE_CHECKING:  # types only: _sources.py imports this module
    from xnorvision.pipeline._result import FrameResult
    from xnorvision.pipeline._sinks import Sink
    from xnorvision.pipeline._sources import Source

T = TypeVar("T")


def _guarded(call: Callable[[], T], error: type[XnorvisionError], message: str) -> T:
    try:
        return call()
    except XnorvisionError:
        raise
    except PLUGIN_FAILURES as exc:  # plugin code (sys.exit too): its failure, named, in one line
        raise error(f"{message}: {type(exc).__name__}: {exc}") from exc


class GuardedSource:
    """A plugin's source; ``label`` (e.g. "source 'cam' of plugin 'vehicles'") names it in errors."""

    def __init__(self, inner: Source, label: str) -> None:
        self._inner, self.label = inner, label
        self.name, self.live = inner.name, inner.live
        self.fps = getattr(inner, "fps", None)

    def read(self) -> np.ndarray | None:
        frame = _guarded(self._inner.read, SourceError, f"{self.label} failed to read a frame")
        if frame is not None:
            _check_frame(frame, self.label)
        return frame

    def close(self) -> None:
        _guarded(self._inner.close, SourceError, f"{self.label} failed to close")


def _check_frame(frame: Any, label: str) -> None:
    """A frame every stage and sink can take, or the source's error: a float, grey or empty frame otherwise
    fails later inside OpenCV (an internal error, or a video write blamed on the disk)."""
    if (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
            and frame.size):
        return
    is_array = isinstance(frame, np.ndarray)
    what = f"{frame.dtype} array of shape {frame.shape}" if is_array else type(frame).__name__
    raise SourceError(f"{label} returned a frame that is a {what}; read() must return a BGR uint8 "
                      "(height, width, 3) array, or None at the end")


class GuardedSink:
    """A plugin's sink; ``label`` (e.g. "sink 'csv' of plugin 'vehicles'") names it in errors."""

    def __init__(self, inner: Sink, label: str) -> None:
        self._inner, self.label = inner, label

    def write(self, result: FrameResult) -> None:
        _guarded(lambda: self._inner.write(result), SinkError, f"{self.label} failed to write")

    def close(self) -> None:
        _guarded(self._inner.close, SinkError, f"{self.label} failed to close")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
