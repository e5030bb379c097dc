"""Square crops around boxes, cut the same way in training and at run time (a second stage's input)."""

from __future__ import annotations

import cv2
import numpy as np


def crop_squares(image: np.ndarray, cx: np.ndarray, cy: np.ndarray, side: np.ndarray, out: int) -> np.ndarray:
    """For each i, the ``side[i]`` square centred on (``cx[i]``, ``cy[i]``) resized to ``out`` x ``out``.

    Returns ``(n, out, out)`` (or ``(n, out, out, C)`` for a colour image), uint8 like ``image``; outside
    the image is black. Bilinear sampling, so a large square is sampled, not averaged. One ``cv2.remap``
    cuts every crop (24 ``warpAffine`` calls cost twice as long), and one function serves training and
    inference: a classifier never sees crops cut otherwise than it learnt on.
    """
    cx, cy, side = (np.asarray(v, np.float64).reshape(-1) for v in (cx, cy, side))
    n = len(side)
    if n == 0:
        return np.zeros((0, out, out, *image.shape[2:]), image.dtype)
    # output pixel u of crop i samples the source at (u - out/2) * side/out + centre
    step = side / out
    u = np.arange(out, dtype=np.float64) - out / 2
    xs = (u[None, :] * step[:, None] + cx[:, None]).astype(np.float32)
    ys = (u[None, :] * step[:, None] + cy[:, None]).astype(np.float32)
    map_x = np.broadcast_to(xs[:, None, :], (n, out, out)).reshape(n * out, out)
    map_y = np.broadcast_to(ys[:, :, None], (n, out, out)).reshape(n * out, out)
    crops = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crops.reshape(n, out, out, *image.shape[2:])


def crop_square(image: np.ndarray, cx: float, cy: float, side: float, out: int) -> np.ndarray:
    """The ``side`` square centred on (cx, cy) at ``out`` x ``out``, cut by :func:`crop_squares`."""
    return crop_squares(image, [cx], [cy], [side], out)[0]
