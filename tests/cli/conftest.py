from __future__ import annotations

import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.api import Detections, PipelineSpec, SinkSpec, SourceSpec, hookimpl, load_model
from xnorvision.plugins import _manager


class BoxStage:
    name = "boxes"

    def __call__(self, frame, detections):
        return Detections(np.array([[5, 5, 30, 30]], np.float32), np.array([0.8]), ("thing",))


class FlakyStage:
    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frame, detections):
        self.calls += 1
        if self.calls == 3:
            raise ValueError("bad luck")
        return detections


class ModelStage:
    name = "model"

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, frame, detections):
        p = self.model.probabilities(frame)[0]  # scores are probabilities, never logits
        label = self.model.labels[int(p.argmax())]
        return Detections(np.array([[0, 0, 8, 8]], np.float32), [p.max()], (label,))


@hookimpl
def xnorvision_register_pipelines(register):
    register(PipelineSpec("boxes", build=lambda options: [BoxStage()]))
    register(PipelineSpec("flaky", build=lambda options: [FlakyStage()]))
    register(PipelineSpec("classify", build=lambda options: [ModelStage(load_model(options.model))]))


class CountSource:
    """``count://N``: N grey frames whose pixel value is the frame number."""

    live = False

    def __init__(self, spec: str) -> None:
        self.name = spec
        self.left = int(spec.removeprefix("count://"))  # a bad N raises ValueError: the plugin's failure
        self.i = 0

    def read(self):
        if self.i >= self.left:
            return None
        self.i += 1
        return np.full((24, 32, 3), self.i - 1, np.uint8)

    def close(self) -> None:
        pass


class LinesSink:
    """``lines:PATH``: one line per frame with its index and mean pixel value."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "w")  # closed by close()

    def write(self, result) -> None:
        self.file.write(f"{result.index} {result.frame.mean():.0f}\n")

    def close(self) -> None:
        self.file.close()


@hookimpl
def xnorvision_register_sources(register):
    register(SourceSpec("count", "count://", open=CountSource))


@hookimpl
def xnorvision_register_sinks(register):
    register(SinkSpec("lines", open=LinesSink))


def _broken():
    raise ImportError("No module named 'torchvision'")


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch):
    """Entry points as if two plugins were installed: a working one and one that fails to import."""
    good = types.SimpleNamespace(xnorvision_register_pipelines=xnorvision_register_pipelines,
                                 xnorvision_register_sources=xnorvision_register_sources,
                                 xnorvision_register_sinks=xnorvision_register_sinks)
    monkeypatch.setattr(_manager, "_entry_point_plugins",
                        lambda: [("testing", "1.0", lambda: good), ("broken", "0.3", _broken)])
    monkeypatch.delenv("XNORVISION_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("XNORVISION_DISABLE_PLUGINS", raising=False)


def write_video(path: Path, frames: int = 4, size: tuple[int, int] = (32, 24)) -> Path:
    """A real MP4 of ``frames`` grey frames (pixel value ``3 * i % 256``), for runs on a video file."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 3 * i % 256, np.uint8))
    writer.release()
    return path


@pytest.fixture
def make_video(tmp_path: Path):
    """``make_video(name, frames, size)``: a generated MP4 in the test's folder."""
    return lambda name="v.mp4", frames=4, size=(32, 24): write_video(tmp_path / name, frames, size)
