"""Per-cell training targets of the proposal net (numpy): which cells hold a face centre, and its box.

A face is assigned to every level whose size range holds its long side; on that level the cells whose
centre lies within a quarter of the face's size (at least half a stride) of the face centre are positives,
with the face's target (1 for WIDER boxes, YuNet's score for faces only YuNet found). Other cells inside
the face, and the centre cells of faces just outside a level's range, are ignored rather than negatives.
"""

from __future__ import annotations

import numpy as np

from xnorvision_faces.training.models import LEVELS

MIN_FACE = 4.0  # input pixels: smaller faces are only ignore regions


def encode_level(boxes: np.ndarray, targets: np.ndarray, size: int, stride: int, lo: float, hi: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cls (H, W), weight (H, W), reg (4, H, W))`` for one square image of ``size`` pixels."""
    n = size // stride
    cls = np.zeros((n, n), np.float32)
    weight = np.ones((n, n), np.float32)
    reg = np.zeros((4, n, n), np.float32)
    area = np.full((n, n), np.inf, np.float32)
    centres = (np.arange(n, dtype=np.float32) + 0.5) * stride
    for (x1, y1, x2, y2), t in zip(boxes, targets, strict=True):
        w, h = x2 - x1, y2 - y1
        cx, cy, m = (x1 + x2) / 2, (y1 + y2) / 2, max(w, h)
        inside_x = np.abs(centres - cx) < w / 2
        inside_y = np.abs(centres - cy) < h / 2
        near_x = np.abs(centres - cx) <= max(0.25 * w, 0.5 * stride)
        near_y = np.abs(centres - cy) <= max(0.25 * h, 0.5 * stride)
        if m < MIN_FACE or not lo / 1.5 <= m <= hi * 1.5:
            continue
        if not lo <= m <= hi:  # just outside the range: neither positive nor negative
            weight[np.ix_(near_y, near_x)] = np.where(cls[np.ix_(near_y, near_x)] > 0, 1.0, 0.0)
            continue
        weight[np.ix_(inside_y, inside_x)] = np.where(cls[np.ix_(inside_y, inside_x)] > 0, 1.0, 0.0)
        pos = np.ix_(near_y, near_x)
        take = area[pos] > w * h  # a cell claimed by two faces keeps the smaller one
        ys, xs = np.nonzero(near_y)[0], np.nonzero(near_x)[0]
        for a, i in enumerate(ys):
            for b, j in enumerate(xs):
                if take[a, b]:
                    cls[i, j], weight[i, j], area[i, j] = t, 1.0, w * h
                    reg[:, i, j] = ((cx - centres[j]) / stride, (cy - centres[i]) / stride,
                                    np.log(max(w, 1.0) / stride), np.log(max(h, 1.0) / stride))
    return cls, weight, reg


Level = tuple[np.ndarray, np.ndarray, np.ndarray]


def encode(boxes: np.ndarray, targets: np.ndarray, size: int) -> list[Level]:
    """``encode_level`` for every level of :data:`LEVELS`."""
    return [encode_level(boxes, targets, size, s, lo, hi) for s, lo, hi in LEVELS]


def decode(cls: np.ndarray, reg: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(H*W, 4)`` xyxy and logits ``(H*W,)`` of one level: the inverse of ``encode_level``."""
    h, w = cls.shape
    px = (np.arange(w, dtype=np.float32) + 0.5) * stride
    py = (np.arange(h, dtype=np.float32) + 0.5) * stride
    cx = px[None, :] + reg[0] * stride
    cy = py[:, None] + reg[1] * stride
    bw, bh = np.exp(np.clip(reg[2], -4, 6)) * stride, np.exp(np.clip(reg[3], -4, 6)) * stride
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1).reshape(-1, 4)
    return boxes, cls.reshape(-1)
