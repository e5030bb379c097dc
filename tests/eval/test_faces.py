"""``xnorvision.eval._faces``: matching with ignore regions, VOC AP, the evaluation loop and its outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision import kernels
from xnorvision._tables import eval_faces_table
from xnorvision.detect import Detections, box_iou
from xnorvision.errors import XnorvisionError
from xnorvision.eval import _faces as ev
from xnorvision.eval._faces_plot import plot_pr, plot_speed
from xnorvision.pipeline._synth import SynthSource

ROOT = Path(__file__).resolve().parents[2]
YUNET = Path(os.environ.get("XNORVISION_DATA", ROOT.parent / "shared" / "data")) / "teachers" / \
    "face_detection_yunet_2026may.onnx"


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

    res = ev.evaluate([ev.Contender("oracle", oracle, "o"), ev.Contender("blind", blind, "b", 320)], items,
                      min_face=20)
    by = {r.name: r for r in res}
    assert by["oracle"].ap == pytest.approx(1.0) and by["oracle"].max_recall == pytest.approx(1.0)
    assert by["blind"].ap == 0.0 and by["blind"].max_recall == 0.0
    assert all(r.ms_per_image >= 0 for r in res)
    ev.write_json(res, tmp_path / "r.json")
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [set(r) for r in rows] == [{"name", "ap", "max_recall", "ms_per_image", "long_side", "family",
                                       "corruption"}] * 2
    assert [r["long_side"] for r in rows] == [None, 320]
    table = eval_faces_table([{"results": rows}]).splitlines()
    assert len(table) == 4 and table[2].startswith("| oracle | native | 1.000 | 1.000 |")
    plot_pr(res, tmp_path / "pr.png")
    plot_speed(res, tmp_path / "speed.png")
    assert cv2.imread(str(tmp_path / "pr.png")).shape[2] == 3
    assert cv2.imread(str(tmp_path / "speed.png")).shape[2] == 3


def test_every_detector_is_scored_from_the_same_floor(tmp_path: Path) -> None:
    items = ev.load_face_list(_dataset(tmp_path), tmp_path)

    def timid(image: np.ndarray) -> Detections:  # right box, score under the default floor
        return Detections.from_boxes(np.array([[10, 10, 50, 60]]), np.array([0.01]), "face")

    contenders = [ev.Contender("timid", timid, "t")]
    assert ev.evaluate(contenders, items)[0].max_recall == 0.0
    assert ev.evaluate(contenders, items, floor=0.0)[0].ap == pytest.approx(1.0)


def test_detectors_take_turns_starting_one_later_each_image(tmp_path: Path) -> None:
    items = ev.load_face_list(_dataset(tmp_path), tmp_path)
    calls: list[str] = []

    def named(name: str) -> ev.Contender:
        return ev.Contender(name, lambda image: calls.append(name) or Detections.empty(), name)

    ev.evaluate([named("a"), named("b"), named("c")], items)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    with pytest.raises(XnorvisionError, match="share a name"):
        ev.evaluate([named("a"), named("a")], items)


def test_at_long_side_runs_the_detector_small_and_maps_boxes_back() -> None:
    seen: list[tuple[int, ...]] = []

    def quarter(image: np.ndarray) -> Detections:  # the box over the image's second quarter, each way
        seen.append(image.shape)
        h, w = image.shape[:2]
        return Detections.from_boxes(np.array([[w / 4, h / 4, w / 2, h / 2]]), np.array([0.9]), "face")

    dets = ev.at_long_side(quarter, 320)(np.zeros((480, 640, 3), np.uint8))
    assert seen == [(240, 320, 3)]
    np.testing.assert_allclose(dets.boxes, [[160, 120, 320, 240]])
    ev.at_long_side(quarter, 320)(np.zeros((200, 100, 3), np.uint8))  # enlarged: long side 320 too
    assert seen[-1] == (320, 160, 3)


def test_a_baseline_is_shrunk_by_our_fastest_area_shrink() -> None:
    """The resize counts in the baseline's time: cv2's INTER_AREA took ~1.4 ms of YuNet@416's time on a
    640x480 image (it has no fast path at fractional scales), a handicap our own pipeline did not carry."""
    got: list[np.ndarray] = []
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    ev.at_long_side(lambda small: got.append(small) or Detections.empty(), 416)(image)
    np.testing.assert_array_equal(got[0], kernels.area_shrink(image, (416, 312)))


def test_baseline_spec_names_and_long_side(tmp_path: Path) -> None:
    cascade = tmp_path / "c.xml"
    cascade.write_text("<opencv_storage/>")
    with pytest.raises(XnorvisionError):
        ev.baseline_detector(f"haar@abc:{cascade}")
    with pytest.raises(XnorvisionError, match="long side"):
        ev.baseline_detector(f"yunet@4:{cascade}")
    with pytest.raises(XnorvisionError, match="cannot load YuNet"):
        ev.baseline_detector(f"yunet@320:{cascade}")


@pytest.mark.skipif(not YUNET.is_file(), reason="needs ../shared/data (the YuNet model)")
def test_yunet_at_a_long_side_finds_the_same_faces_in_image_pixels() -> None:
    native = ev.baseline_detector(f"yunet:{YUNET}")
    small = ev.baseline_detector(f"yunet@320:{YUNET}")
    assert (native.name, native.long_side, small.name, small.long_side) == ("yunet", None, "yunet@320", 320)
    source = SynthSource(3, (480, 360))  # YuNet finds one drawn face of each frame at 320x240
    for i in range(3):
        dets = small.detect(source.frame(i))
        dets = dets.select(dets.scores >= 0.3)
        assert len(dets) > 0
        assert (box_iou(dets.boxes, source.face_boxes(i)).max(1) >= 0.5).all()  # in the frame's pixels


def test_tune_split_is_the_last_images_of_the_list(tmp_path: Path) -> None:
    lines = [f"im{i}.jpg 1,1,30,30" for i in range(ev.TUNE_IMAGES + 5)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    items = ev.load_face_list(tmp_path / "train.txt", tmp_path)
    tune = ev.select_split(items, "tune")
    assert [i.path.name for i in tune] == [f"im{i}.jpg" for i in range(5, ev.TUNE_IMAGES + 5)]
    assert ev.select_split(items, "all") == items
    with pytest.raises(XnorvisionError, match="longer list"):
        ev.select_split(items[:ev.TUNE_IMAGES], "tune")
    with pytest.raises(XnorvisionError, match="--split"):
        ev.select_split(items, "val")


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


def test_an_image_over_opencvs_size_limit_in_a_face_list_is_named(tmp_path: Path,
                                                                   oversized_png: bytes) -> None:
    listed = _dataset(tmp_path)
    (tmp_path / "im1.jpg").write_bytes(oversized_png)
    items = ev.load_face_list(listed, tmp_path)
    with pytest.raises(XnorvisionError, match=r"cannot read image .*im1\.jpg: larger than OpenCV decodes"):
        ev.evaluate([ev.Contender("none", lambda image: Detections.empty(), "n")], items)
