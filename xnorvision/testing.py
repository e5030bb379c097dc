"""pytest fixtures for plugin authors (loaded through the ``pytest11`` entry point).

- ``xnv_registry(*plugins)``: a registry holding only the given plugin modules/objects (no entry-point
  discovery, strict, so a broken hook fails the test instead of being skipped).
- ``synth_source(count=30, size=(320, 240))``: a :class:`~xnorvision.pipeline.SynthSource`.
- ``run_pipeline(registry, name, frames=10, **options)``: build a registered pipeline and run it on
  synthetic frames, returning every :class:`~xnorvision.pipeline.FrameResult`.
- ``tiny_model``: path to a small valid ``.xnv`` classifier (labels cat, dog, face; 16x16 input).
- ``synth_face_list``: ``list.txt`` of 8 synthetic frames saved as PNGs beside it, with their drawn
  faces as boxes: a labelled set for ``xnorvision eval faces --data LIST --root LIST_FOLDER``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from xnorvision.pipeline.result import FrameResult
from xnorvision.pipeline.runner import Runner
from xnorvision.pipeline.synth import SynthSource
from xnorvision.plugins._manager import load_registry
from xnorvision.plugins._registry import Registry
from xnorvision.plugins.specs import PipelineOptions


class _Collect:
    """A sink that keeps results in memory (tests only: it grows with the run)."""

    def __init__(self) -> None:
        self.results: list[FrameResult] = []

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


def make_registry(*plugins: Any) -> Registry:
    """A strict registry of exactly these plugins, named after their ``__name__`` (or class name)."""
    named = [(getattr(p, "__name__", type(p).__name__), p) for p in plugins]
    return load_registry(named, discover=False, strict=True, disabled=())


def run_registered_pipeline(
    registry: Registry, name: str, frames: int = 10, size: tuple[int, int] = (320, 240), **options: Any
) -> list[FrameResult]:
    """Build pipeline ``name`` with ``PipelineOptions(**options)``; run it on ``frames`` synthetic frames."""
    stages = registry.pipeline(name).build(PipelineOptions(**options))
    sink = _Collect()
    Runner(SynthSource(frames, size), stages, [sink], strict=True).run()
    return sink.results


@pytest.fixture
def xnv_registry() -> Callable[..., Registry]:
    return make_registry


@pytest.fixture
def synth_source() -> Callable[..., SynthSource]:
    return SynthSource


@pytest.fixture
def run_pipeline() -> Callable[..., list[FrameResult]]:
    return run_registered_pipeline


def write_face_list(folder: str | Path, count: int = 8, size: tuple[int, int] = (320, 240),
                    seed: int = 0) -> Path:
    """``count`` frames of ``synth:`` as PNGs in ``folder`` and ``list.txt`` naming them with their faces
    (``path x,y,w,h ...``, the list format ``eval faces`` reads): a labelled face set made from nothing."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = SynthSource(count, size, seed)
    lines = []
    for i in range(count):
        cv2.imwrite(str(folder / f"synth{i:03d}.png"), source.frame(i))
        xywh = [f"{x1:g},{y1:g},{x2 - x1:g},{y2 - y1:g}" for x1, y1, x2, y2 in source.face_boxes(i)]
        lines.append(" ".join([f"synth{i:03d}.png", *xywh]))
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    return folder / "list.txt"


@pytest.fixture
def synth_face_list(tmp_path: Path) -> Path:
    return write_face_list(tmp_path / "synth_faces")


def write_tiny_model(
    path: str | Path, labels: tuple[str, ...] = ("cat", "dog", "face"), seed: int = 0
) -> Path:
    """A valid 3-class ``.xnv`` classifier on 16x16 BGR input: sign -> binary conv -> pool -> linear."""
    from xnorvision.runtime import save_model

    rng = np.random.default_rng(seed)
    k, classes = 8, len(labels)
    graph = {"inputs": ["input"], "outputs": ["probs"], "nodes": [
        {"name": "sign", "op": "sign", "inputs": ["input"], "attrs": {}},
        {"name": "conv", "op": "binary_conv2d", "inputs": ["sign"],
         "attrs": {"kernel": [3, 3], "stride": 1, "padding": "same", "pad_value": 0, "in_channels": 3,
                   "out_channels": k, "output": "float"}},
        {"name": "pool", "op": "global_avgpool", "inputs": ["conv"], "attrs": {}},
        {"name": "fc", "op": "linear", "inputs": ["pool"],
         "attrs": {"in_features": k, "out_features": classes}},
        {"name": "probs", "op": "softmax", "inputs": ["fc"], "attrs": {"axis": -1}},
    ]}
    tensors = {
        "conv.weight": rng.integers(0, 8, (k, 3, 3, 1), dtype=np.uint64),  # 3 channels: low 3 bits only
        "conv.scale": rng.uniform(0.5, 1.5, k).astype(np.float32),
        "conv.bias": rng.normal(0, 1, k).astype(np.float32),
        "fc.weight": rng.normal(0, 0.05, (classes, k)).astype(np.float32),
        "fc.bias": np.zeros(classes, np.float32),
    }
    spec = {"height": 16, "width": 16, "channels": 3, "channel_order": "rgb",
            "mean": [0.5] * 3, "std": [0.25] * 3}
    return save_model(path, graph, tensors, spec, list(labels), {"purpose": "xnorvision.testing tiny model"})


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "tiny.xnv")
