"""The pipeline contract: stage roles, the chain rule and the threshold, in the one ``Pipeline``."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision.detect import Detections
from xnorvision.errors import PluginError
from xnorvision.pipeline import Pipeline, Runner, StageFailed, SynthSource

FRAME = np.zeros((60, 80, 3), np.uint8)


class Proposals:
    """A detector: three boxes scored 0.9, 0.4 and 0.7."""

    name = "proposals"

    def __call__(self, frame, detections):
        boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 5, 60, 25]], np.float32)
        return Detections(boxes, np.array([0.9, 0.4, 0.7]), ("face",) * 3)


class Labeler:
    """Labels every box it is given; also tries to move boxes and change scores (the contract forbids it)."""

    name = "labeler"
    role = "labeler"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, frame, detections):
        self.seen.append(len(detections))
        n = len(detections) or 1
        boxes = detections.boxes + 5 if len(detections) else np.array([[1, 2, 3, 4]], np.float32)
        top = tuple((("cat", 0.6), ("dog", 0.4)) for _ in range(n))
        return Detections(boxes, np.full(n, 0.6), ("cat",) * n, top)


class Verifier:
    name = "verifier"
    role = "verifier"

    def __call__(self, frame, detections):
        return Detections(detections.boxes * 2, detections.scores / 2, ("checked",) * len(detections))


def test_a_labeler_labels_only_boxes_above_the_threshold_and_keeps_boxes_and_scores() -> None:
    labeler = Labeler()
    dets, latency = Pipeline([Proposals(), labeler], threshold=0.5).run(FRAME)
    assert labeler.seen == [2]  # the 0.4 box never reaches it
    assert dets.boxes.tolist() == [[0, 0, 10, 10], [40, 5, 60, 25]]
    assert dets.scores.tolist() == pytest.approx([0.9, 0.7])
    assert dets.labels == ("cat", "cat") and dets.top_k[0] == (("cat", 0.6), ("dog", 0.4))
    assert set(latency) == {"proposals", "labeler"}


def test_a_labeler_is_not_called_without_boxes_above_the_threshold() -> None:
    labeler = Labeler()
    dets, latency = Pipeline([Proposals(), labeler], threshold=0.95).run(FRAME)
    assert labeler.seen == [] and len(dets) == 0 and set(latency) == {"proposals"}


def test_a_labeler_first_in_the_chain_is_the_detector() -> None:
    dets, _ = Pipeline([Labeler()], threshold=0.5).run(FRAME)
    assert dets.boxes.tolist() == [[1, 2, 3, 4]] and dets.scores.tolist() == pytest.approx([0.6])


def test_a_verifier_rescores_every_candidate_but_keeps_the_boxes() -> None:
    dets, _ = Pipeline([Proposals(), Verifier()], threshold=0.3).run(FRAME)
    assert dets.boxes.tolist() == [[0, 0, 10, 10], [40, 5, 60, 25]]  # 0.45 and 0.35 pass, 0.2 does not
    assert dets.scores.tolist() == pytest.approx([0.45, 0.35]) and dets.labels == ("checked", "checked")


def test_a_stage_that_drops_boxes_it_may_not_drop_fails_with_its_name() -> None:
    class Dropper(Labeler):
        name = "dropper"

        def __call__(self, frame, detections):
            return Detections.empty()

    with pytest.raises(StageFailed, match="stage 'dropper': ValueError: a labeler must return one detection"):
        Pipeline([Proposals(), Dropper()]).run(FRAME)


def test_an_unknown_role_is_the_plugins_error() -> None:
    class Odd(Proposals):
        role = "judge"

    with pytest.raises(PluginError, match="stage 'proposals' declares role 'judge'"):
        Pipeline([Odd()])


def test_the_runner_threshold_is_the_pipelines(collect) -> None:
    pipeline = Pipeline([Proposals(), Labeler()], threshold=0.8)
    runner = Runner(SynthSource(2, (80, 60)), pipeline, [collect])
    assert runner.threshold == 0.8
    runner.threshold = 0.5  # what the window's slider does
    runner.run()
    assert pipeline.threshold == 0.5 and [len(r.detections) for r in collect.results] == [2, 2]
    assert all(r.detections.labels == ("cat", "cat") for r in collect.results)
