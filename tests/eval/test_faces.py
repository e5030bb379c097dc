"""``xnorvision.eval.faces``: matching with ignore regions, VOC AP, the evaluation loop and its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.detect import Detections
from xnorvision.errors import XnorvisionError
from xnorvision.eval import faces as ev


def test_match_marks_tp_duplicate_and_ignored() -> None:
    gt = np.array([[0, 0, 40, 40], [100, 100, 110, 110]], np.float32)
    ignored = np.array([False, True])
    dets = np.array([[1, 1, 40, 40], [0, 0, 41, 41], [100, 100, 110, 111], [200, 200, 240, 240]], np.float32)
    flags = ev.match_detections(dets, np.array([0.9, 0.8, 0.7, 0.6]), gt, ignored, 0.5)
    assert flags.tolist() == [ev.TRUE_POS, ev.FALSE_POS, ev.IGNORED, ev.FALSE_POS]


def test_match_prefers_higher_score_for_the_same_face() -> None:
    gt = np.array([[0, 0, 40, 40]], np.float32)
    dets = np.array([[0, 0, 40, 40], [2, 2, 40, 40]], np.float32)
    flags = ev.match_detections(dets, np.array([0.1, 0.9]), gt, np.array([False]), 0.5)
    assert flags.tolist() == [ev.FALSE_POS, ev.TRUE_POS]


def test_average_precision_all_point() -> None:
    # Ranked: TP, FP, TP with 2 faces -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
    scores = np.array([0.9, 0.8, 0.7])
    flags = np.array([ev.TRUE_POS, ev.FALSE_POS, ev.TRUE_POS], np.int8)
    p, r = ev.precision_recall(scores, flags, 2)
    assert ev.average_precision(p, r) == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    perfect = ev.precision_recall(scores, np.full(3, ev.TRUE_POS, np.int8), 3)
    assert ev.average_precision(*perfect) == pytest.approx(1.0)


def test_ignored_detections_do_not_count() -> None:
    flags = np.array([ev.IGNORED, ev.TRUE_POS], np.int8)
    p, r = ev.precision_recall(np.array([0.9, 0.5]), flags, 1)
    assert p.tolist() == [1.0] and r.tolist() == [1.0]


def _dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"im{i}.jpg"), rng.integers(0, 255, (120, 160, 3), np.uint8))
        lines.append(f"im{i}.jpg 10,10,40,50 100,20,8,8")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "list.txt"


def test_evaluate_scores_detectors_and_writes_outputs(tmp_path: Path) -> None:
    items = ev.load_face_list(_dataset(tmp_path), tmp_path)
    assert items[0].boxes.tolist() == [[10, 10, 50, 60], [100, 20, 108, 28]]

    def oracle(image: np.ndarray) -> Detections:  # finds the big face, and the tiny (ignored) one
        boxes = np.array([[10, 10, 50, 60], [100, 20, 108, 28]])
        return Detections.from_boxes(boxes, np.array([0.9, 0.8]), "face")

    def blind(image: np.ndarray) -> Detections:
        return Detections.from_boxes(np.array([[60, 60, 90, 90]]), np.array([0.9]), "face")

    res = ev.evaluate({"oracle": oracle, "blind": blind}, items, min_face=20)
    by = {r.name: r for r in res}
    assert by["oracle"].ap == pytest.approx(1.0) and by["oracle"].max_recall == pytest.approx(1.0)
    assert by["blind"].ap == 0.0 and by["blind"].max_recall == 0.0
    assert all(r.ms_per_image >= 0 for r in res)
    ev.write_json(res, tmp_path / "r.json")
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [set(r) for r in rows] == [{"name", "ap", "max_recall", "ms_per_image"}] * 2
    table = ev.markdown_table(res).splitlines()
    assert len(table) == 4 and table[2].startswith("| oracle | 1.000 | 1.000 |")
    ev.plot_pr(res, tmp_path / "pr.png")
    assert cv2.imread(str(tmp_path / "pr.png")).shape[2] == 3


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(XnorvisionError):
        ev.load_face_list(tmp_path / "missing.txt", tmp_path)
    (tmp_path / "bad.txt").write_text("a.jpg 1,2,x,4\n")
    with pytest.raises(XnorvisionError):
        ev.load_face_list(tmp_path / "bad.txt", tmp_path)
    with pytest.raises(XnorvisionError):
        ev.baseline_detector("ssd:model.onnx")
    with pytest.raises(XnorvisionError):
        ev.baseline_detector(f"yunet:{tmp_path / 'none.onnx'}")
