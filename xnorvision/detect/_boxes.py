"""Box arithmetic on ``(N, 4)`` x1, y1, x2, y2 arrays: IoU and greedy non-maximum suppression."""

from __future__ import annotations

import numpy as np

from xnorvision import _nms

_FLOAT32_ONE = np.float32(1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU, ``(len(a), len(b))``; boxes of zero area have IoU 0 with everything."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.4,
        max_out: int | None = None) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, best score first (ties: lower index first).

    A box is kept unless a box kept before it has IoU > ``iou_threshold`` with it; at most ``max_out``
    are kept. The loop runs in ``xnorvision._nms`` (a numpy loop cost ~1 ms for 300 boxes).
    """
    boxes = np.ascontiguousarray(np.asarray(boxes, np.float32).reshape(-1, 4))
    scores = np.asarray(scores, np.float32).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"nms: {len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable").astype(np.int64, copy=False)
    # numpy compared the float32 IoU with a Python float in float32 but with a numpy float64 in float64:
    # round the threshold the same way so the kernel's double comparison keeps the same boxes.
    thr, _ = _as_numpy_promotes(iou_threshold)
    limit = -1 if max_out is None else max(int(max_out), 0)
    return _nms.nms(boxes, order, thr, limit)


def drop_nested(boxes: np.ndarray, cover: float) -> np.ndarray:
    """Indices of ``boxes`` (best first, as NMS returns them) left once every box that shares ``cover`` or
    more of the smaller one's area with a better box kept before it is dropped.

    NMS compares IoU, and a small box on a face inside a larger box on the same face has a low IoU with it
    (a quarter of the area gives IoU 0.25): both survive, whichever scored better. The share of the smaller
    box's area that the two have in common tells them apart.
    The loop runs in ``xnorvision._nms`` (the numpy loop cost ~0.37 ms for 24 boxes, the kernel 2 us).
    """
    boxes = np.ascontiguousarray(np.asarray(boxes, np.float32).reshape(-1, 4))
    # numpy multiplied ``cover * area`` in float32 for a Python or float32 cover, in float64 for a float64
    # one: the kernel does the same, given the cover rounded as numpy would round it.
    return _nms.drop_nested(boxes, *_as_numpy_promotes(cover))


def _as_numpy_promotes(value: float) -> tuple[float, bool]:
    """``value`` rounded to the type numpy gives ``float32 array (op) value``, and whether that is wider
    than float32 (a numpy float64 is; a Python float is not). Multiplying a float32 one is exact, and
    a third of the cost of ``np.result_type`` plus a conversion (twice a frame in the faces pipeline)."""
    rounded = _FLOAT32_ONE * value
    return float(rounded), rounded.dtype != np.float32
