"""Synthetic frames: moving shapes and simply drawn faces, so tests and demos need no camera or data.

Each frame is a pure function of its index, so a dropped frame changes nothing downstream and tests can
ask where the faces are (:meth:`SynthSource.face_boxes`).
"""

from __future__ import annotations

import cv2
import numpy as np


def _bounce(start: float, speed: float, t: int, lo: float, hi: float) -> float:
    """Position at time ``t`` of a point moving at ``speed`` and bouncing between ``lo`` and ``hi``."""
    span = hi - lo
    if span <= 0:
        return lo
    p = (start - lo + speed * t) % (2 * span)
    return lo + (p if p <= span else 2 * span - p)


class SynthSource:
    """``synth:N``: ``count`` frames of ``size`` (width, height) with two shapes and two faces moving."""

    live = False

    def __init__(self, count: int, size: tuple[int, int] = (320, 240), seed: int = 0) -> None:
        self.count = count
        self.width, self.height = size
        self.name = f"synth:{count}"
        self.fps = 30.0
        self._next = 0
        rng = np.random.default_rng(seed)
        w, h = self.width, self.height
        self._face_r = max(6, min(w, h) // 8)
        self._shapes = [(rng.uniform(0, w), rng.uniform(0, h), *rng.uniform(-4, 4, 2)) for _ in range(4)]
        grad = np.linspace(40, 110, h, dtype=np.float32)[:, None, None]
        self._background = np.broadcast_to(grad * np.float32([1.0, 0.9, 0.8]), (h, w, 3)).astype(np.uint8)

    def _centres(self, i: int) -> list[tuple[int, int]]:
        r = self._face_r
        out = []
        for x0, y0, vx, vy in self._shapes:
            x = _bounce(x0, vx, i, r + 1, self.width - r - 2)
            y = _bounce(y0, vy, i, r + 1, self.height - r - 2)
            out.append((round(x), round(y)))
        return out

    def face_boxes(self, i: int) -> np.ndarray:
        """``(2, 4)`` x1, y1, x2, y2 boxes of the faces drawn in frame ``i``."""
        r = self._face_r
        return np.array([[x - r, y - round(1.2 * r), x + r, y + round(1.2 * r)]
                         for x, y in self._centres(i)[2:]], np.float32)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as BGR uint8 ``(height, width, 3)``."""
        img = self._background.copy()
        r = self._face_r
        (ax, ay), (bx, by), *faces = self._centres(i)
        cv2.rectangle(img, (ax - r, ay - r), (ax + r, ay + r), (40, 160, 230), -1)
        cv2.circle(img, (bx, by), r, (200, 90, 60), -1)
        for x, y in faces:
            ry = round(1.2 * r)
            cv2.ellipse(img, (x, y), (r, ry), 0, 0, 360, (150, 180, 225), -1)
            eye = max(1, r // 5)
            cv2.circle(img, (x - r // 2 + 1, y - ry // 4), eye, (40, 30, 30), -1)
            cv2.circle(img, (x + r // 2 - 1, y - ry // 4), eye, (40, 30, 30), -1)
            mouth = (r // 2, max(1, ry // 6))
            cv2.ellipse(img, (x, y + ry // 3), mouth, 0, 0, 180, (60, 40, 150), max(1, r // 8))
        return img

    def read(self) -> np.ndarray | None:
        if self._next >= self.count:
            return None
        self._next += 1
        return self.frame(self._next - 1)

    def close(self) -> None:
        self._next = self.count
