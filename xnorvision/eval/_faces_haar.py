"""A Haar cascade detector in numpy, for the ``haar:`` baseline of ``eval faces``.

OpenCV 5 dropped ``cv2.CascadeClassifier``, but the classic cascades (OpenCV's XML format, BOOST stages of
HAAR-feature trees) are still the baseline the face detector is compared with. This follows OpenCV's
algorithm: an image pyramid (scale step 1.1), a 20x20 window moved by 2 pixels (1 once the image is shrunk
more than 2x), features normalised by the window's standard deviation, stage after stage, then
``groupRectangles``-style clustering. A detection's score grows with its number of neighbours. Each stage
is evaluated for all windows at once, so its speed is numpy's, not OpenCV's C++: compare its accuracy.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from xnorvision.errors import XnorvisionError


@dataclass
class _Stage:
    threshold: float
    left: np.ndarray  # (T, N) child of each node: > 0 a node index, <= 0 minus a leaf index
    right: np.ndarray
    node_threshold: np.ndarray  # (T, N)
    leaves: np.ndarray  # (T, L)
    corner_dy: np.ndarray  # (T, N, 12): each node's feature as 12 integral-image corners (3 rects x 4)
    corner_dx: np.ndarray
    corner_w: np.ndarray  # +-weight of each corner


def _numbers(el: ET.Element | None) -> list[float]:
    if el is None or el.text is None:
        raise XnorvisionError("Haar cascade: missing numbers in the XML")
    return [float(v) for v in el.text.split()]


class HaarCascade:
    """A parsed cascade (OpenCV's new XML format, HAAR features, untilted)."""

    def __init__(self, path: str | Path) -> None:
        try:
            root = ET.parse(path).getroot().find("cascade")
        except (ET.ParseError, OSError) as exc:
            raise XnorvisionError(f"cannot read Haar cascade {path}: {exc}") from None
        if root is None or root.findtext("featureType", "").strip() != "HAAR":
            raise XnorvisionError(f"not a HAAR cascade in OpenCV's format: {path}")
        self.size = (int(root.findtext("width", "0")), int(root.findtext("height", "0")))
        rects = []
        for feat in root.find("features") or []:
            if (feat.findtext("tilted") or "0").strip() not in ("0", ""):
                raise XnorvisionError(f"tilted Haar features are not supported: {path}")
            rs = [_numbers(r) for r in feat.find("rects") or []]
            rects.append(rs + [[0, 0, 0, 0, 0.0]] * (3 - len(rs)))
        self.rects = np.asarray(rects, np.float64)  # (F, 3, 5): x, y, w, h, weight
        self.stages = [self._stage(st, self.rects) for st in root.find("stages") or []]
        if not self.stages or not len(self.rects):
            raise XnorvisionError(f"Haar cascade has no stages or features: {path}")

    @staticmethod
    def _stage(st: ET.Element, rects: np.ndarray) -> _Stage:
        trees = [(np.array(_numbers(wc.find("internalNodes"))).reshape(-1, 4),
                  _numbers(wc.find("leafValues"))) for wc in st.find("weakClassifiers") or []]
        n, nl = max(len(t[0]) for t in trees), max(len(t[1]) for t in trees)
        nodes = np.zeros((len(trees), n, 4))
        leaves = np.zeros((len(trees), nl))
        for i, (nd, lv) in enumerate(trees):
            nodes[i, :len(nd)], leaves[i, :len(lv)] = nd, lv
        r = rects[nodes[..., 2].astype(int)]  # (T, N, 3, 5)
        x0, y0, x1, y1 = r[..., 0], r[..., 1], r[..., 0] + r[..., 2], r[..., 1] + r[..., 3]
        w = r[..., 4]
        dy = np.stack([y1, y0, y1, y0], -1).reshape(*r.shape[:2], 12).astype(int)
        dx = np.stack([x1, x1, x0, x0], -1).reshape(*r.shape[:2], 12).astype(int)
        cw = (np.stack([w, -w, -w, w], -1)).reshape(*r.shape[:2], 12)
        return _Stage(float(_numbers(st.find("stageThreshold"))[0]), nodes[..., 0].astype(int),
                      nodes[..., 1].astype(int), nodes[..., 3], leaves, dy, dx, cw)

    def _windows(self, gray: np.ndarray, step: int) -> np.ndarray:
        """Top-left corners ``(N, 2)`` of the windows that pass every stage."""
        ww, wh = self.size
        s, sq = cv2.integral2(gray, sdepth=cv2.CV_64F)  # (H + 1, W + 1)
        grid_y, grid_x = np.mgrid[0:gray.shape[0] - wh + 1:step, 0:gray.shape[1] - ww + 1:step]
        grid = grid_y
        ys, xs, alive = grid_y.ravel(), grid_x.ravel(), np.arange(grid_y.size)
        area = (ww - 2) * (wh - 2)
        total, sq_total = ((t[ys + wh - 1, xs + ww - 1] - t[ys + 1, xs + ww - 1] - t[ys + wh - 1, xs + 1]
                            + t[ys + 1, xs + 1]) for t in (s, sq))
        nf = area * sq_total - total**2
        inv_norm = 1.0 / np.where(nf > 0, np.sqrt(np.maximum(nf, 0)), 1.0)
        flat, row = s.ravel(), s.shape[1]
        for st in self.stages:
            if not len(xs):
                break
            if len(xs) > grid.size // 8:  # most windows alive: shifted slices of the integral image
                val = self._dense(s, st, grid.shape, step)[alive] * inv_norm[:, None, None]
            else:  # a few left: gather their corners
                off = st.corner_dy * row + st.corner_dx  # (T, N, 12) offsets of the 12 rectangle corners
                base = ys * row + xs
                val = (flat[base[:, None, None, None] + off] * st.corner_w).sum(-1) * inv_norm[:, None, None]
            t = np.arange(st.left.shape[0])
            idx = np.zeros((len(xs), len(t)), int)
            leaf = np.full(idx.shape, -1)
            for _ in range(st.left.shape[1]):
                live = leaf < 0
                v = np.take_along_axis(val, idx[..., None], 2)[..., 0]
                nxt = np.where(v < st.node_threshold[t, idx], st.left[t, idx], st.right[t, idx])
                leaf = np.where(live & (nxt <= 0), -nxt, leaf)
                idx = np.where(live & (nxt > 0), nxt, idx)
            score = st.leaves[t, np.maximum(leaf, 0)].sum(1)
            keep = score >= st.threshold
            xs, ys, inv_norm, alive = xs[keep], ys[keep], inv_norm[keep], alive[keep]
        return np.stack([xs, ys], 1)

    @staticmethod
    def _dense(s: np.ndarray, st: _Stage, shape: tuple[int, int], step: int) -> np.ndarray:
        """Every node's feature at every window of the grid, ``(Gy * Gx, T, N)``, un-normalised."""
        gy, gx = shape
        t_n = st.corner_dy.shape[:2]
        out = np.zeros(t_n + (gy, gx))
        for t, n, k in np.ndindex(*st.corner_dy.shape):
            dy, dx = st.corner_dy[t, n, k], st.corner_dx[t, n, k]
            out[t, n] += st.corner_w[t, n, k] * s[dy:dy + gy * step:step, dx:dx + gx * step:step]
        return out.reshape(*t_n, gy * gx).transpose(2, 0, 1)

    def detect(self, gray: np.ndarray, scale_step: float = 1.1, min_neighbors: int = 3
               ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(N, 4)`` x1, y1, x2, y2 and their neighbour counts, after grouping."""
        boxes = []
        factor = 1.0
        while gray.shape[1] / factor >= self.size[0] and gray.shape[0] / factor >= self.size[1]:
            small = cv2.resize(gray, (round(gray.shape[1] / factor), round(gray.shape[0] / factor)),
                               interpolation=cv2.INTER_LINEAR)
            corners = self._windows(small, 1 if factor > 2 else 2)
            wh = np.array(self.size) * factor
            boxes.append(np.concatenate([corners * factor, corners * factor + wh], 1))
            factor *= scale_step
        return group_boxes(np.concatenate(boxes), min_neighbors)


def group_boxes(boxes: np.ndarray, min_neighbors: int, eps: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``groupRectangles``: cluster similar boxes, average each cluster, keep those with more
    than ``min_neighbors`` members, and drop a box inside a better-supported one."""
    n = len(boxes)
    if n == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0)
    wh = boxes[:, 2:] - boxes[:, :2]
    delta = eps * 0.5 * (np.minimum(wh[:, None, 0], wh[None, :, 0])
                         + np.minimum(wh[:, None, 1], wh[None, :, 1]))
    similar = (np.abs(boxes[:, None, :] - boxes[None, :, :]) <= delta[..., None]).all(-1)
    labels = _components(similar)
    out, counts = [], []
    for lab in np.unique(labels):
        members = labels == lab
        if members.sum() > min_neighbors:
            out.append(boxes[members].mean(0))
            counts.append(int(members.sum()))
    out_a, counts_a = np.asarray(out, np.float32).reshape(-1, 4), np.asarray(counts, np.float64)
    keep = np.ones(len(out_a), bool)
    for i, (a, ca) in enumerate(zip(out_a, counts_a, strict=True)):
        for b, cb in zip(out_a, counts_a, strict=True):
            d = (b[2] - b[0]) * eps
            inside = a[0] >= b[0] - d and a[1] >= b[1] - d and a[2] <= b[2] + d and a[3] <= b[3] + d
            if cb > max(3, ca) and inside and not np.array_equal(a, b):
                keep[i] = False
    return out_a[keep], counts_a[keep]


def _components(similar: np.ndarray) -> np.ndarray:
    """Connected components of a symmetric boolean adjacency matrix (labels per node)."""
    labels = np.full(len(similar), -1)
    for start in range(len(similar)):
        if labels[start] >= 0:
            continue
        stack = [start]
        labels[start] = start
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(similar[i] & (labels < 0)):
                labels[j] = start
                stack.append(j)
    return labels
