"""The capture thread: reads a source while the pipeline works on the previous frame.

Live sources keep only the newest frame (a slow pipeline shows the present, not a growing backlog); files
keep every frame behind a small bounded queue (the reader waits, memory stays flat).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from xnorvision.errors import FramesSkipped
from xnorvision.pipeline._sources import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source, counting frames dropped before processing
    timestamp: float  # time.time() when captured
    image: np.ndarray


class CaptureThread:
    """Iterate frames from ``source`` read on a background thread; ``stop()`` ends it from any thread.

    The source is closed exactly once, and never under a ``read()`` still running: releasing a
    ``VideoCapture`` while another thread reads it can segfault (a stalled stream after Ctrl-C).
    """

    stop_wait_seconds = 2.0  # how long stop() waits for a read in progress before leaving the close to it

    def __init__(self, source: Source, drop_frames: bool, depth: int = 4) -> None:
        self.source = source
        self.drop_frames = drop_frames
        self.dropped = 0
        self.skipped = 0  # frames the source could not decode (counted as errors of the run)
        self._depth = 1 if drop_frames else depth
        self._queue: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._done = False
        self._stopped = False
        self._error: BaseException | None = None
        self._close_when_done = False  # stop() gave up waiting: the thread closes the source as it ends
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="xnorvision-capture", daemon=True)

    def start(self) -> CaptureThread:
        self._thread.start()
        return self

    def _loop(self) -> None:
        index = 0
        try:
            while not self._stopped:
                try:
                    image = self.source.read()
                except FramesSkipped as exc:  # a damaged stretch of a file: count it, read on
                    self.skipped += exc.lost
                    index += exc.lost
                    log.warning("%s", exc)
                    continue
                if image is None:
                    break
                self._put(Frame(index, time.time(), image))
                index += 1
        except BaseException as exc:  # handed to the consumer, which raises it in the main thread
            self._error = exc
        finally:
            with self._cond:
                self._done = True
                close = self._close_when_done
                self._cond.notify_all()
            if close:  # nobody waits for this thread any more: a failure to close can only be logged
                try:
                    self._close_source()
                except Exception as exc:
                    log.warning("could not close %s after a stalled read: %s: %s", self.source.name,
                                type(exc).__name__, exc)

    def _put(self, frame: Frame) -> None:
        with self._cond:
            if self.drop_frames:
                self.dropped += len(self._queue)
                self._queue.clear()
            else:
                while len(self._queue) >= self._depth and not self._stopped:
                    self._cond.wait(0.1)
            self._queue.append(frame)
            self._cond.notify_all()

    def next(self, timeout: float = 0.1) -> Frame | None:
        """The next frame, or None if none came within ``timeout`` s (short, so stop and Ctrl-C get through).

        A source error is raised here, in the consumer's thread.
        """
        with self._cond:
            if not self._queue and not self._done:
                self._cond.wait(timeout)
            if self._queue:
                frame = self._queue.popleft()
                self._cond.notify_all()
                return frame
            if self._done and self._error is not None:
                error, self._error = self._error, None
                raise error
            return None

    @property
    def finished(self) -> bool:
        """The source ended and every frame it gave was taken."""
        with self._cond:
            return self._done and not self._queue and self._error is None

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.stop_wait_seconds)
        with self._cond:  # the thread sets _done under this lock: exactly one of us closes
            self._close_when_done = self._thread.is_alive() and not self._done
        if not self._close_when_done:
            self._close_source()

    def _close_source(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self.source.close()
