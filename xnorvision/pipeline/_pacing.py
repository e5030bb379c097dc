"""Play a file at its own frame rate: in a window, a 25 FPS video should look like one, not flash by."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from xnorvision.pipeline._sources import Source

#: Falling further behind than this (a pause, a slow pipeline) re-anchors the clock instead of bursting.
MAX_LAG_S = 0.25


class RealTimeSource:
    """Wraps a file source so ``read()`` returns frame ``i`` no earlier than ``i / fps`` after the first."""

    live = False

    def __init__(self, source: Source, fps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.source = source
        self.name = source.name
        self.fps = fps
        self._clock, self._sleep = clock, sleep
        self._anchor: float | None = None
        self._count = 0

    def read(self) -> np.ndarray | None:
        frame = self.source.read()
        if frame is None:
            return None
        now = self._clock()
        if self._anchor is None or now - self._due() > MAX_LAG_S:
            self._anchor = now - self._count / self.fps
        wait = self._due() - now
        if wait > 0:
            self._sleep(wait)
        self._count += 1
        return frame

    def _due(self) -> float:
        assert self._anchor is not None
        return self._anchor + self._count / self.fps

    def close(self) -> None:
        self.source.close()


def play_in_real_time(source: Source) -> Source:
    """``source`` paced to its frame rate when it is a file that has one; cameras and images as they are."""
    fps = getattr(source, "fps", None)
    if source.live or not fps or fps <= 0:
        return source
    return RealTimeSource(source, float(fps))
