"""The two stages of the faces pipeline: binary proposal net over the frame, binary classifier on crops.

The proposal net sees the frame at a small size (long side 416 by default) and scores every cell of
strides 8, 16 and 32 for a face centre, with the face's size; the classifier sees each surviving proposal
as a 32x32 grey crop cut from the full-resolution frame, accepts or rejects it and refines its box.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np

from xnorvision.api import Detections, Model, PluginError, area_shrink, crop_squares, drop_nested, nms, timed

STRIDES = (8, 16, 32)
#: The proposal net's input long side: the smallest that reached AP 0.60 on WIDER val (320: 0.55, 480: 0.62).
LONG_SIDE = 416
#: How the frame is shrunk for the proposal net (see :func:`shrink`); the first is the default.
SHRINKS = ("area", "pyramid")
#: Proposals kept after NMS, each re-scored by the classifier (the ``proposals`` option).
MAX_PROPOSALS = 24
CROP_CONTEXT = 1.3  # a crop is a square this many times the proposal's long side (as in training)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in one buffer (the same float32 steps, without two temporaries)."""
    t = np.exp(-x)
    t += 1.0
    return np.divide(1.0, t, out=t)


def shrink(frame: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None,
           how: str = "area") -> np.ndarray:
    """``frame`` resized to ``size`` (width, height); ``out`` (height x width x channels, may be a view such
    as a canvas's corner) receives the result.

    ``"area"`` (the default) is the box-filter mean the proposal net's training crops were made with
    (``area_shrink``: INTER_AREA's to a grey level); enlarging is OpenCV's bit-exact bilinear. Both give the
    same bytes on every CPU, so the net's signs, and its boxes, do not depend on the machine (OpenCV's
    ordinary bilinear rounds differently on NEON and AVX: 1 grey level on 13% of a demo frame's values).
    ``"pyramid"`` halves with ``pyrDown`` while the frame is at least twice too wide, smooths with a 3x3
    Gaussian (sigma 0.6) if what is left to shrink is below 0.8x, then samples bilinearly: 0.3-0.4 ms
    slower for a VGA frame and 1.5-4 ms for HD, CPU-dependent in the last bit, and no better on the
    tuning split (the model card).
    """
    if how == "area":
        if size[0] <= frame.shape[1] and size[1] <= frame.shape[0]:
            return area_shrink(frame, size, out)
        return cv2.resize(frame, size, dst=out, interpolation=cv2.INTER_LINEAR_EXACT)
    while frame.shape[1] >= 2 * size[0] and frame.shape[0] >= 2 * size[1]:
        frame = cv2.pyrDown(frame)
    if size[0] < 0.8 * frame.shape[1]:
        frame = cv2.GaussianBlur(frame, (3, 3), 0.6)
    return cv2.resize(frame, size, dst=out, interpolation=cv2.INTER_LINEAR)


def decode_heads(heads: Sequence[np.ndarray], strides: Sequence[int], floor: float,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x1, y1, x2, y2, input pixels) and scores of the cells of the ``(H, W, 5)`` heads above
    ``floor``, the heads' cells in order (row by row, one head after the other).

    Channel 0 is the face logit; 1-2 the face centre's offset from the cell centre and 3-4 the log of its
    width and height, all in strides. The heads are decoded as one table of cells (a cached grid gives each
    cell its centre and stride), so each step is one numpy call for the three heads, not three: the same
    float steps (float64 centres, float32 sizes), the same bits.
    """
    cells = np.concatenate([h.reshape(-1, 5) for h in heads])
    # logits against the floor's logit: the sigmoid then runs on the kept cells only
    keep = np.flatnonzero(cells[:, 0] >= math.log(floor / (1 - floor)))
    grid = _cell_grid(tuple(h.shape[:2] for h in heads), tuple(strides))
    o, grid = np.take(cells, keep, 0), np.take(grid, keep, 0)  # np.take: a quarter of fancy indexing's time
    c = (grid[:, :2] + o[:, 1:3]) * grid[:, 2:3]  # float64 centres
    half = np.exp(np.clip(o[:, 3:5], -4, 6))  # float32 sizes; times stride / 2 rounds as times stride, / 2
    half *= grid[:, 3:]
    boxes = np.empty((len(keep), 4), np.float32)
    np.subtract(c, half, out=boxes[:, :2])  # computed in float64, rounded once to float32
    np.add(c, half, out=boxes[:, 2:])
    return boxes, _sigmoid(o[:, 0])


@functools.lru_cache(maxsize=8)
def _cell_grid(shapes: tuple[tuple[int, int], ...], strides: tuple[int, ...]) -> np.ndarray:
    """Per cell of heads of these ``(H, W)`` shapes: its centre (column + 0.5, row + 0.5, in strides),
    stride and half stride, float64, made once per input size rather than per frame."""
    rows = []
    for (h, w), stride in zip(shapes, strides, strict=True):
        ys, xs = np.mgrid[:h, :w]
        rows.append(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5, np.full(h * w, float(stride)),
                              np.full(h * w, stride / 2)], 1))
    grid = np.concatenate(rows)
    grid.flags.writeable = False  # shared by every call
    return grid


class ProposalStage:
    """Candidate face boxes over the whole frame (the first stage)."""

    def __init__(self, model: Model, long_side: int = LONG_SIDE, floor: float = 0.05,
                 max_out: int = MAX_PROPOSALS, nms_iou: float = 0.4, pre_nms: int = 300,
                 nested_cover: float | None = None, shrink: str = SHRINKS[0]) -> None:
        if isinstance(long_side, bool) or not isinstance(long_side, int) or not 32 <= long_side <= 4096:
            raise PluginError(f"faces: long_side must be whole pixels from 32 to 4096, got {long_side!r}")
        if shrink not in SHRINKS:
            raise PluginError(f"faces: shrink must be one of {', '.join(SHRINKS)}, got {shrink!r}")
        self.name = "faces-proposal"
        self.model, self.long_side, self.floor = model, long_side, floor
        self.max_out, self.nms_iou, self.pre_nms = max_out, nms_iou, pre_nms
        self.nested_cover = nested_cover  # set when this stage's boxes are the pipeline's last word
        self.shrink = shrink
        self._canvases: dict[tuple[int, int], np.ndarray] = {}

    def _canvas(self, h: int, w: int) -> np.ndarray:
        """The black canvas, a multiple of 32 each way, for an h x w image. Kept per size: only its top-left
        h x w corner is ever written, the rest stays black padding (as in training)."""
        if (h, w) not in self._canvases:
            if len(self._canvases) >= 8:
                self._canvases.pop(next(iter(self._canvases)))
            self._canvases[h, w] = np.zeros((math.ceil(h / 32) * 32, math.ceil(w / 32) * 32, 3), np.uint8)
        return self._canvases[h, w]

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        s = self.long_side / max(frame.shape[:2])
        h, w = max(1, round(frame.shape[0] * s)), max(1, round(frame.shape[1] * s))
        canvas = self._canvas(h, w)
        with timed("shrink"):
            shrink(frame, (w, h), canvas[:h, :w], self.shrink)
        outs = self.model.run(canvas)
        with timed("decode"):
            boxes, scores = decode_heads([outs[name][0] for name in self.model.output_names], STRIDES,
                                         self.floor)
            boxes /= s
            if len(scores) > self.pre_nms:  # NMS cost grows with the candidates; the best few hundred suffice
                top = np.argpartition(-scores, self.pre_nms)[:self.pre_nms]
                boxes, scores = np.take(boxes, top, 0), np.take(scores, top)
        keep = _suppress(boxes, scores, self.nms_iou, self.nested_cover, self.max_out)
        return Detections.from_boxes(boxes[keep], scores[keep], "face")


class ClassifierStage:
    """Re-scores each proposal from its crop and refines its box.

    The new score is ``proposal ** (1 - weight) * classifier ** weight``. The weight 0.25 was chosen among
    0, 0.25 and 0.5 on WIDER val (a choice made on the evaluation set, said so in the model card): it
    ranked faces better than either score alone. Crops are cut at the classifier's own input size.
    """

    def __init__(self, model: Model, nms_iou: float = 0.4, weight: float = 0.25,
                 nested_cover: float | None = None) -> None:
        spec = model.input_spec
        if spec["width"] is None or spec["width"] != spec["height"]:
            raise PluginError(f"the faces classifier needs a fixed square input, got "
                              f"{spec['height']}x{spec['width']}")
        self.name = "faces-classifier"
        self.model, self.nms_iou, self.weight, self.crop = model, nms_iou, weight, int(spec["width"])
        self.nested_cover = nested_cover

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        if not len(detections):
            return detections
        with timed("crops"):
            b = detections.boxes
            cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
            side = np.maximum(CROP_CONTEXT * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), 2.0)
            crops = crop_squares(frame, cx, cy, side, self.crop, grey=True)  # greys only the part it reads
        out = self.model(crops)
        w = self.weight
        scores = detections.scores ** (1 - w) * _sigmoid(out[:, 0]) ** w  # float32 throughout
        boxes = out[:, 1:5] * side[:, None]  # offsets from the crop's top-left corner, in crop sides
        boxes[:, 0::2] += (cx - side / 2)[:, None]
        boxes[:, 1::2] += (cy - side / 2)[:, None]
        keep = _suppress(boxes, scores, self.nms_iou, self.nested_cover)
        return Detections.from_boxes(boxes[keep], scores[keep], "face")


def _suppress(boxes: np.ndarray, scores: np.ndarray, iou: float, nested_cover: float | None,
              max_out: int | None = None) -> np.ndarray:
    """NMS, then (for the pipeline's final boxes) no box mostly inside a better one: one box per face."""
    with timed("NMS"):
        keep = nms(boxes, scores, iou, max_out)
    if nested_cover is None:
        return keep
    with timed("nested boxes"):
        return keep[drop_nested(boxes[keep], nested_cover)]
