"""Chains keep their boxes: ``--plugin A,B`` with B a labeler shows A's boxes and scores, labelled by B.

Run through the plugin author's fixtures (``xnv_registry``, ``run_pipeline``), i.e. the path
``xnorvision run`` takes: the registry, the chain builder and the one ``Pipeline``.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from xnorvision.api import Detections, PipelineSpec, hookimpl, load_model

faces = pytest.importorskip("xnorvision_faces")
objects = pytest.importorskip("xnorvision_objects")
DEMO = Path(__file__).parents[2] / "assets" / "demo_faces.mp4"


def _same_boxes_and_scores(alone, chained) -> None:
    assert [r.index for r in chained] == [r.index for r in alone]
    for a, c in zip(alone, chained, strict=True):
        np.testing.assert_array_equal(c.detections.boxes, a.detections.boxes)
        np.testing.assert_array_equal(c.detections.scores, a.detections.scores)


def test_faces_then_objects_keeps_the_faces_boxes_and_scores(xnv_registry, run_pipeline) -> None:
    registry = xnv_registry(faces, objects)
    alone = run_pipeline(registry, "faces", frames=8, threshold=0.5, threads=1)
    chained = run_pipeline(registry, "faces,objects", frames=8, threshold=0.5, threads=1)
    _same_boxes_and_scores(alone, chained)
    boxes = sum(len(r.detections) for r in chained)
    assert boxes > 0  # synth frames have drawn faces: the chain has something to label
    cifar = set(load_model("cifar10-xnor", registry=registry).labels)
    for r in chained:
        det = r.detections
        assert set(det.labels) <= cifar and len(det.top_k) == len(det)
        for top, label in zip(det.top_k, det.labels, strict=True):
            assert len(top) == 3 and top[0][0] == label
        if not len(det):
            assert "objects" not in r.latency_ms  # nothing above the threshold: the labeler is not run


@pytest.mark.skipif(not DEMO.is_file(), reason="needs assets/demo_faces.mp4")
def test_faces_then_objects_on_the_demo_video(xnv_registry, run_pipeline) -> None:
    registry = xnv_registry(faces, objects)
    alone = run_pipeline(registry, "faces", frames=24, source=str(DEMO), threshold=0.5, threads=1)
    chained = run_pipeline(registry, "faces,objects", frames=24, source=str(DEMO), threshold=0.5, threads=1)
    _same_boxes_and_scores(alone, chained)
    assert sum(len(r.detections) for r in chained) > 0
    assert all(len(r.detections.top_k) == len(r.detections) for r in chained)


class SquareDetector:
    """Two fixed boxes, one above the default threshold and one below it."""

    name = "squares"

    def __call__(self, frame, detections):
        boxes = np.array([[10, 10, 60, 60], [100, 20, 180, 100]], np.float32)
        return Detections(boxes, [0.8, 0.3], ("sq", "sq"))


class TinyLabeler:
    """What ``xnorvision new-plugin`` writes: a classifier of each incoming box (``role = "labeler"``)."""

    name = "tiny"
    role = "labeler"

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, frame, detections):
        crops = [frame[int(y1):int(y2), int(x1):int(x2)] for x1, y1, x2, y2 in detections.boxes]
        probs = self.model.probabilities(crops)
        best = probs.argmax(1)
        top = tuple(((self.model.labels[b], float(p[b])),) for p, b in zip(probs, best, strict=True))
        # a careless labeler returns its class probability as the score: the contract keeps the detector's
        return Detections(detections.boxes, probs.max(1), tuple(self.model.labels[b] for b in best), top)


def _test_plugin(model_path: str) -> types.SimpleNamespace:
    @hookimpl
    def xnorvision_register_pipelines(register):
        register(PipelineSpec("squares", build=lambda options: [SquareDetector()]))
        register(PipelineSpec("tiny", build=lambda o: [TinyLabeler(load_model(o.model or model_path))]))

    return types.SimpleNamespace(__name__="squares_plugin",
                                 xnorvision_register_pipelines=xnorvision_register_pipelines)


def test_a_test_plugins_labeler_keeps_the_detectors_boxes(xnv_registry, run_pipeline, tiny_model) -> None:
    registry = xnv_registry(_test_plugin(str(tiny_model)))
    alone = run_pipeline(registry, "squares", frames=3)
    chained = run_pipeline(registry, "squares,tiny", frames=3)
    _same_boxes_and_scores(alone, chained)
    for r in chained:
        assert r.detections.boxes.tolist() == [[10, 10, 60, 60]] and r.detections.scores.tolist() == [
            pytest.approx(0.8)]
        (label,) = r.detections.labels
        assert label in {"cat", "dog", "face"} and 0 <= r.detections.top_k[0][0][1] <= 1
