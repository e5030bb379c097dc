"""Square crops around boxes, cut the same way in training and at run time (a second stage's input)."""

from __future__ import annotations

import cv2
import numpy as np


def crop_square(image: np.ndarray, cx: float, cy: float, side: float, out: int) -> np.ndarray:
    """The ``side`` x ``side`` square centred on (cx, cy), resized to ``out`` x ``out``; outside is black.

    Bilinear sampling (``warpAffine`` has no area mode), so a large square is sampled, not averaged. One
    function for training and inference: a classifier never sees crops cut otherwise than it learnt on.
    """
    s = out / side
    m = np.array([[s, 0, out / 2 - s * cx], [0, s, out / 2 - s * cy]], np.float32)
    return cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_LINEAR)
