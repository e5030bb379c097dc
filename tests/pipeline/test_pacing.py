"""Files shown in a window play at their own frame rate."""

from __future__ import annotations

import numpy as np

from xnorvision.pipeline._pacing import RealTimeSource, play_in_real_time


class _Frames:
    name = "test.mp4"
    live = False

    def __init__(self, n: int, fps: float | None = 10.0) -> None:
        self.n, self.fps, self.closed = n, fps, False

    def read(self) -> np.ndarray | None:
        if self.n == 0:
            return None
        self.n -= 1
        return np.zeros((2, 2, 3), np.uint8)

    def close(self) -> None:
        self.closed = True


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_frames_come_no_faster_than_the_frame_rate() -> None:
    clock = _FakeClock()
    src = RealTimeSource(_Frames(4), 10.0, clock=clock, sleep=clock.sleep)
    times = []
    while src.read() is not None:
        times.append(round(clock.now - 100.0, 6))
        clock.now += 0.03  # the pipeline takes 30 ms per frame
    assert times == [0.0, 0.1, 0.2, 0.3]
    assert clock.slept == [0.07, 0.07, 0.07]


def test_a_long_stall_reanchors_instead_of_bursting() -> None:
    clock = _FakeClock()
    src = RealTimeSource(_Frames(3), 10.0, clock=clock, sleep=clock.sleep)
    src.read()
    clock.now += 5.0  # paused for 5 s
    src.read()
    assert clock.slept == []  # no catch-up burst, and no waiting either
    src.read()
    assert clock.slept == [0.1]


def test_only_files_with_a_frame_rate_are_paced() -> None:
    assert isinstance(play_in_real_time(_Frames(1)), RealTimeSource)
    no_rate = _Frames(1, fps=None)
    assert play_in_real_time(no_rate) is no_rate
    live = _Frames(1)
    live.live = True
    assert play_in_real_time(live) is live


def test_close_reaches_the_wrapped_source() -> None:
    inner = _Frames(1)
    RealTimeSource(inner, 5.0).close()
    assert inner.closed
