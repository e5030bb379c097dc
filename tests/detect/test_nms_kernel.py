"""The compiled ``nms`` must keep exactly the boxes the numpy greedy loop it replaced kept, in order."""

import numpy as np
import pytest

from xnorvision.detect import box_iou, nms

from .random_boxes import clustered_boxes


def _nms_reference(boxes, scores, iou_threshold=0.4, max_out=None):
    """The numpy loop ``nms`` used before the Cython kernel."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32).reshape(-1), kind="stable")
    keep: list[int] = []
    while order.size and (max_out is None or len(keep) < max_out):
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        ious = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def _random_case(rng, n):
    """Clustered boxes plus the degenerate kinds; scores with many ties."""
    boxes = clustered_boxes(rng, n, per_cluster=15, spread=4.0, min_side=5.0)
    scores = rng.integers(0, 8, n).astype(np.float32) / 8
    return boxes, scores


@pytest.mark.parametrize("threshold", [0.0, 0.4, 0.99])
@pytest.mark.parametrize("max_out", [None, 1, 24])
def test_nms_matches_numpy_reference_on_random_cases(threshold, max_out):
    rng = np.random.default_rng(int(threshold * 100) * 31 + (max_out or 0))
    for _ in range(40):
        boxes, scores = _random_case(rng, int(rng.integers(0, 401)))
        got = nms(boxes, scores, threshold, max_out)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, _nms_reference(boxes, scores, threshold, max_out))


def test_ties_follow_stable_order_and_identical_boxes_suppress_each_other():
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.full(4, 0.5, np.float32)
    assert nms(boxes, scores, 0.4).tolist() == [0, 1]
    assert nms(boxes, scores, 1.0).tolist() == [0, 1, 2, 3]


def test_only_kept_boxes_suppress():
    # 1 overlaps 0 and is dropped; 2 overlaps only 1, so it stays.
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]], np.float32)
    assert nms(boxes, [0.9, 0.8, 0.7], 0.3).tolist() == [0, 2]


def test_threshold_type_sets_comparison_precision_like_numpy():
    # IoU exactly float32(0.4): kept against a Python float (float32 compare), dropped against float64.
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 4]], np.float32)  # inside a: IoU = 40 / 100
    boxes = np.concatenate([a, b])
    assert box_iou(a, b)[0, 0] == np.float32(0.4)
    for thr in (0.4, np.float64(0.4), np.float32(0.4)):
        np.testing.assert_array_equal(nms(boxes, [1, 0], thr), _nms_reference(boxes, [1, 0], thr))
    assert nms(boxes, [1, 0], np.float64(0.4)).tolist() == [0]


def test_nan_and_inf_boxes_and_scores_match_reference():
    rng = np.random.default_rng(5)
    boxes, scores = _random_case(rng, 200)
    boxes[rng.integers(0, 200, 10), rng.integers(0, 4, 10)] = np.nan
    boxes[rng.integers(0, 200, 5), rng.integers(0, 4, 5)] = np.inf
    boxes[rng.integers(0, 200, 5), rng.integers(0, 4, 5)] = -np.inf
    scores[rng.integers(0, 200, 10)] = np.nan
    for thr in (0.0, 0.4):
        with np.errstate(invalid="ignore"):
            want = _nms_reference(boxes, scores, thr)
        np.testing.assert_array_equal(nms(boxes, scores, thr), want)


def test_inputs_array_like_empty_and_negative_max_out():
    assert nms([], []).dtype == np.int64 and nms([], []).shape == (0,)
    assert nms([[0, 0, 1, 1], [0, 0, 1, 1]], [0.1, 0.2]).tolist() == [1]
    assert nms([[0, 0, 1, 1]], [1.0], max_out=-3).tolist() == []


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="scores"):
        nms(np.zeros((3, 4)), np.zeros(2))
