"""The compiled ``drop_nested`` must keep exactly the boxes the numpy loop it replaced kept, in order."""

import numpy as np
import pytest

from xnorvision import _nms
from xnorvision.detect import drop_nested

from .random_boxes import clustered_boxes


def _drop_nested_reference(boxes, cover):
    """The numpy loop ``drop_nested`` used before the Cython kernel."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    kept: list[int] = []
    for i in range(len(boxes)):
        if kept:
            k = boxes[kept]
            w = np.clip(np.minimum(k[:, 2], boxes[i, 2]) - np.maximum(k[:, 0], boxes[i, 0]), 0, None)
            h = np.clip(np.minimum(k[:, 3], boxes[i, 3]) - np.maximum(k[:, 1], boxes[i, 1]), 0, None)
            smaller = np.minimum(area[kept], area[i])
            if np.any((smaller > 0) & (w * h >= cover * smaller)):
                continue
        kept.append(i)
    return np.asarray(kept, np.int64)


def _random_boxes(rng, n):
    """Boxes nested in a few clusters (covers near any threshold) and the degenerate kinds."""
    return clustered_boxes(rng, n)


def _with_non_finite(rng, boxes):
    n = len(boxes)
    for value, count in ((np.nan, n // 10 + 1), (np.inf, n // 20 + 1), (-np.inf, n // 20 + 1)):
        boxes[rng.integers(0, n, count), rng.integers(0, 4, count)] = value
    return boxes


@pytest.mark.parametrize("cover", [0.0, 0.5, 0.6, 1.0, np.float64(0.6), np.float32(0.6), np.float64(0.5)])
@pytest.mark.parametrize("non_finite", [False, True])
def test_drop_nested_matches_numpy_reference_on_random_cases(cover, non_finite):
    rng = np.random.default_rng(int(float(cover) * 100) * 7 + non_finite)
    for _ in range(60):
        boxes = _random_boxes(rng, int(rng.integers(0, 301)))
        if non_finite and len(boxes):
            boxes = _with_non_finite(rng, boxes)
        with np.errstate(invalid="ignore", over="ignore"):
            want = _drop_nested_reference(boxes, cover)
        got = drop_nested(boxes, cover)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_kernel_multiplies_cover_in_the_precision_numpy_did():
    # The unit box shares exactly float32(0.7) of its area with the big one: nested against a float32 cover
    # (0.7 rounded down, the product computed in float32), not against a float64 0.7.
    edge = np.float32(0.7)
    boxes = np.array([[-10, -10, edge, 10], [0, 0, 1, 1]], np.float32)
    assert _nms.drop_nested(boxes, float(np.float32(0.7)), False).tolist() == [0]
    assert _nms.drop_nested(boxes, 0.7, True).tolist() == [0, 1]
    for cover in (0.7, np.float32(0.7), np.float64(0.7)):
        np.testing.assert_array_equal(drop_nested(boxes, cover), _drop_nested_reference(boxes, cover))
    assert drop_nested(boxes, np.float64(0.7)).tolist() == [0, 1]


def test_array_likes_and_non_contiguous_boxes():
    boxes = np.array([[0, 0, 10, 10, 0], [1, 1, 9, 9, 0], [20, 20, 30, 30, 0]], np.float32)[:, :4]
    assert not boxes.flags.c_contiguous
    assert drop_nested(boxes, 0.5).tolist() == [0, 2]
    assert drop_nested(boxes.tolist(), 0.5).tolist() == [0, 2]
    assert drop_nested([], 0.5).dtype == np.int64
