"""Proposal-net targets: a face lands on the right level and cells, and decoding gives its box back."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")  # the train extra: absent in the arm64 root
from xnorvision_faces.training.models import LEVELS  # noqa: E402
from xnorvision_faces.training.targets import decode, encode, encode_level  # noqa: E402


def test_a_face_is_positive_on_its_level_and_decodes_to_its_box() -> None:
    box = np.array([[100, 60, 150, 118]], np.float32)  # 50x58: the stride-16 level (24..90)
    levels = encode(box, np.array([1.0], np.float32), 256)
    counts = [int((cls > 0).sum()) for cls, _, _ in levels]
    assert counts[1] > 0 and counts[0] == 0
    cls, weight, reg = levels[1]
    boxes, logits = decode(np.where(cls > 0, 5.0, -5.0), reg, LEVELS[1][0])
    np.testing.assert_allclose(boxes[logits > 0], np.repeat(box, counts[1], 0), atol=1e-3)
    # Cells inside the face but off its centre are ignored, the rest of the image is negative.
    assert weight[cls > 0].min() == 1 and (weight == 0).any() and weight[0, 0] == 1


def test_soft_targets_tiny_faces_and_overlaps() -> None:
    soft = encode_level(np.array([[10, 10, 30, 30]], np.float32), np.array([0.6], np.float32), 64, 8, 5, 36)
    assert soft[0].max() == np.float32(0.6)
    tiny = encode_level(np.array([[10, 10, 13, 13]], np.float32), np.ones(1, np.float32), 64, 8, 5, 36)
    assert tiny[0].max() == 0 and tiny[1].min() == 1  # under MIN_FACE: no positive, no ignore
    # Two faces on one cell: the smaller keeps it.
    boxes = np.array([[0, 0, 32, 32], [8, 8, 24, 24]], np.float32)
    cls, _, reg = encode_level(boxes, np.ones(2, np.float32), 32, 8, 5, 36)
    assert np.isclose(np.exp(reg[2][1, 1]) * 8, 16)


def test_teacher_faces_are_marked_and_can_be_dropped() -> None:
    """YuNet's extra faces join below target 1 (even at score 1): ``--no-teacher`` drops exactly them."""
    from xnorvision_faces.training.data import Sample, _soft_boxes

    gt = np.array([[10, 10, 30, 30]], np.float32)
    yunet = [[11, 11, 20, 20, 0.9], [50, 50, 20, 20, 1.0], [80, 10, 10, 12, 0.6]]  # x, y, w, h, score
    boxes, targets = _soft_boxes(gt, yunet)
    assert len(boxes) == 3  # the first teacher face is the GT face
    assert targets[0] == 1.0 and (targets[1:] < 1.0).all()
    kept = Sample(np.zeros(1, np.uint8), boxes, targets).labelled()
    np.testing.assert_array_equal(kept.boxes, gt)
    np.testing.assert_array_equal(kept.targets, [1.0])
