"""``CaptureThread.stop`` on a stalled source: the capture is never released under a running read."""

from __future__ import annotations

import threading
import time

import numpy as np

from xnorvision.pipeline._capture import CaptureThread


class StalledSource:
    """A live stream whose second read hangs until ``resume`` is set; records misuse of ``close``."""

    name, live = "stalled", True

    def __init__(self) -> None:
        self.resume, self.reading = threading.Event(), threading.Event()
        self.reads = self.closes = 0
        self.closed_during_read = False
        self._in_read = False

    def read(self) -> np.ndarray | None:
        self.reads += 1
        self._in_read = True
        if self.reads == 2:
            self.reading.set()
            self.resume.wait(30)
        self._in_read = False
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        self.closes += 1
        self.closed_during_read |= self._in_read


def test_stop_leaves_the_close_to_a_thread_still_reading() -> None:
    source = StalledSource()
    capture = CaptureThread(source, drop_frames=True)
    capture.stop_wait_seconds = 0.1
    capture.start()
    assert source.reading.wait(10)
    capture.stop()  # the join times out: the read is still running
    assert source.closes == 0
    source.resume.set()  # the stream answers at last: the thread ends and closes the source itself
    deadline = time.monotonic() + 10
    while source.closes == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    capture.stop()  # a second stop closes nothing twice
    assert source.closes == 1 and not source.closed_during_read


def test_stop_closes_at_once_when_the_thread_has_ended() -> None:
    source = StalledSource()
    source.resume.set()
    capture = CaptureThread(source, drop_frames=True).start()
    while source.reads < 3:
        time.sleep(0.01)
    capture.stop()
    assert source.closes == 1 and not source.closed_during_read


def test_a_deferred_close_that_fails_is_logged_not_a_thread_traceback(monkeypatch, caplog) -> None:
    class FailingClose(StalledSource):
        def close(self) -> None:
            super().close()
            raise OSError("device gone")

    uncaught: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    source = FailingClose()
    capture = CaptureThread(source, drop_frames=True)
    capture.stop_wait_seconds = 0.1
    capture.start()
    assert source.reading.wait(10)
    capture.stop()
    source.resume.set()
    capture._thread.join(10)
    assert source.closes == 1 and not uncaught
    assert "could not close stalled after a stalled read: OSError: device gone" in caplog.text
