from __future__ import annotations

import numpy as np
import pytest

from xnorvision.detect import Detections
from xnorvision.pipeline import FrameResult


class FakeStage:
    """Returns one box per frame at a known place; fails on the frame indices in ``fail_on``."""

    def __init__(self, name: str = "fake", fail_on: tuple[int, ...] = (), exc: BaseException | None = None):
        self.name = name
        self.fail_on = fail_on
        self.exc = exc or RuntimeError("bad frame")
        self.calls = 0

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        self.calls += 1
        if self.calls - 1 in self.fail_on:
            raise self.exc
        return Detections(np.array([[10, 10, 40, 30], [50, 50, 60, 60]], np.float32), np.array([0.9, 0.3]),
                          ("thing", "speck"))


class Collect:
    def __init__(self) -> None:
        self.results: list[FrameResult] = []
        self.closed = False

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def collect() -> Collect:
    return Collect()


@pytest.fixture
def fake_stage() -> type[FakeStage]:
    return FakeStage
