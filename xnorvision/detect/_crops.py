"""Square crops around boxes, cut the same way in training and at run time (a second stage's input)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def crop_squares(image: np.ndarray, cx: np.ndarray, cy: np.ndarray, side: np.ndarray, out: int,
                 grey: bool = False) -> np.ndarray:
    """For each i, the ``side[i]`` square centred on (``cx[i]``, ``cy[i]``) resized to ``out`` x ``out``.

    Returns ``(n, out, out)`` (or ``(n, out, out, C)`` for a colour image), uint8 like ``image``; outside
    the image is black. Bilinear sampling, so a large square is sampled, not averaged. One ``cv2.remap``
    cuts every crop (24 ``warpAffine`` calls cost twice as long), and one function serves training and
    inference: a classifier never sees crops cut otherwise than it learnt on.

    ``grey``: cut from a BGR ``image``'s grey version (``cv2.COLOR_BGR2GRAY``; a 2-D image already is),
    the very crops that ``crop_squares(cv2.cvtColor(image, ...), ...)`` cuts, converting only the
    rectangle the crops read (a quarter less of a WIDER photo, 0.16 ms for a whole 640x480 frame).
    """
    cx, cy, side = (np.asarray(v, np.float64).reshape(-1) for v in (cx, cy, side))
    n = len(side)
    channels = () if grey else image.shape[2:]
    if n == 0:
        return np.zeros((0, out, out, *channels), image.dtype)
    # output pixel u of crop i samples the source at (u - out/2) * side/out + centre; x and y share the
    # offsets, so both are one (2, n, out) float32 array: one rounding, one min, one max, one shift
    offsets = (np.arange(out, dtype=np.float64) - out / 2) * (side / out)[:, None]
    pos = (offsets + np.stack([cx, cy])[:, :, None]).astype(np.float32)
    if grey and image.ndim == 3:
        image = _grey_window(image, pos)
        if image is None:  # every sample falls outside the image
            return np.zeros((n, out, out), np.uint8)
    map_x = np.repeat(pos[0], out, axis=0)  # row r of crop i samples columns pos[0, i]
    map_y = np.repeat(pos[1].reshape(-1), out).reshape(n * out, out)  # ... on row pos[1, i, r]
    crops = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crops.reshape(n, out, out, *image.shape[2:])


def _grey_window(image: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
    """The grey version of the part of a BGR ``image`` that samples at ``pos`` (x and y, ``(2, n, out)``)
    read, with the sample positions moved into it in place (None when that part is empty).

    ``cv2.remap`` rounds a position to 1/32 pixel and reads the pixel at or left of it and the next one:
    columns ``floor(x) - 1`` to ``floor(x) + 2`` hold every pixel it can read. Moving the positions by a
    whole ``dx`` with ``0 <= dx <= x`` is exact in float32 (the result is a multiple of x's ulp, below x;
    past 2**24 it may round, far outside the image either way), and rounding to 1/32 commutes with it, so
    each sample reads the same pixels with the same weights.
    """
    h, w = image.shape[:2]
    (x_lo, y_lo), (x_hi, y_hi) = pos.min(axis=(1, 2)).tolist(), pos.max(axis=(1, 2)).tolist()
    if not all(map(math.isfinite, (x_lo, y_lo, x_hi, y_hi))):  # NaN or infinite positions: the whole image
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    x0, y0 = min(max(math.floor(x_lo) - 1, 0), w), min(max(math.floor(y_lo) - 1, 0), h)
    x1, y1 = min(max(math.floor(x_hi) + 3, 0), w), min(max(math.floor(y_hi) + 3, 0), h)
    if x1 <= x0 or y1 <= y0:
        return None
    pos -= np.array([x0, y0], np.float32)[:, None, None]
    return cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)


def crop_square(image: np.ndarray, cx: float, cy: float, side: float, out: int) -> np.ndarray:
    """The ``side`` square centred on (cx, cy) at ``out`` x ``out``, cut by :func:`crop_squares`."""
    return crop_squares(image, [cx], [cy], [side], out)[0]
