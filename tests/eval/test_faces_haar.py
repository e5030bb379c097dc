"""The numpy Haar cascade baseline: grouping, and detection of a real face with OpenCV's cascade."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision.errors import XnorvisionError
from xnorvision.eval._faces_haar import HaarCascade, group_boxes

ROOT = Path(__file__).resolve().parents[2]
CASCADE = Path(os.environ.get("XNORVISION_DATA", ROOT.parent / "shared" / "data")) / "teachers" / \
    "haarcascade_frontalface_alt2.xml"


def test_group_boxes_merges_neighbours_and_drops_lonely_boxes() -> None:
    cluster = np.array([[10, 10, 50, 50], [11, 10, 51, 50], [10, 12, 50, 52], [12, 11, 52, 51]], np.float64)
    lonely = np.array([[200, 200, 240, 240]], np.float64)
    boxes, counts = group_boxes(np.concatenate([cluster, lonely]), min_neighbors=3)
    np.testing.assert_allclose(boxes, [cluster.mean(0)], atol=1e-4)
    assert counts.tolist() == [4]
    assert len(group_boxes(np.zeros((0, 4)), 3)[0]) == 0


def test_rejects_files_that_are_not_haar_cascades(tmp_path: Path) -> None:
    (tmp_path / "x.xml").write_text("<opencv_storage><cascade><featureType>LBP</featureType></cascade>"
                                    "</opencv_storage>")
    with pytest.raises(XnorvisionError):
        HaarCascade(tmp_path / "x.xml")


@pytest.mark.skipif(not CASCADE.is_file(), reason="needs ../shared/data (OpenCV's Haar cascades)")
def test_finds_the_astronaut_in_the_demo_video() -> None:
    cap = cv2.VideoCapture(str(ROOT / "assets" / "demo_faces.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 48)
    ok, frame = cap.read()
    assert ok
    gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    boxes, counts = HaarCascade(CASCADE).detect(gray)
    sides = boxes[:, 2] - boxes[:, 0]
    assert (sides >= 40).any()  # the large astronaut copy's face (about 60 px at frame 48)
    assert len(boxes) <= 6  # and no flood of false positives on the rocket scene
