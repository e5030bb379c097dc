"""Image corruptions for robustness scores: the same labelled set, made grey, compressed or blurred.

A detector that learned a data set's colour photographs rather than faces loses most of its AP on grey
copies; these are the degradations a cheap camera, a scan or a video stream brings. Each is deterministic,
so every detector in a run sees the very same pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from xnorvision.errors import XnorvisionError

Corruption = Callable[[np.ndarray], np.ndarray]


def gray(image: np.ndarray) -> np.ndarray:
    """Grey, kept as three equal BGR channels (what a colour detector is fed)."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def jpeg30(image: np.ndarray) -> np.ndarray:
    """Re-encoded as JPEG at quality 30 (blocking, lost colour detail)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])
    if not ok:
        raise XnorvisionError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def blur(image: np.ndarray) -> np.ndarray:
    """Shrunk to half size (area average), then scaled back up bilinearly: half the detail, same size."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(w // 2, 1), max(h // 2, 1)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


CORRUPTIONS: dict[str, Corruption] = {"gray": gray, "jpeg30": jpeg30, "blur": blur}


def parse_corruptions(spec: str | None) -> list[str]:
    """``--corrupt gray,jpeg30,blur``: the names, each checked, in order, without repeats."""
    if not spec:
        return []
    names = list(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown or not names:
        raise XnorvisionError(f"--corrupt {spec!r}: choose from {', '.join(CORRUPTIONS)}")
    return names
