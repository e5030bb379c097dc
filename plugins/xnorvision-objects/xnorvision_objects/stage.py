"""The object stage: classify each proposal box, or the frame's centre square when there is none."""

from __future__ import annotations

import cv2
import numpy as np

from xnorvision.api import Detections, Model, PluginError

__all__ = ["ObjectStage", "centre_square"]


def centre_square(width: int, height: int) -> np.ndarray:
    """The largest centred square of the frame, ``[[x1, y1, x2, y2]]`` (CIFAR images are square)."""
    side = min(width, height)
    x1, y1 = (width - side) // 2, (height - side) // 2
    return np.array([[x1, y1, x1 + side, y1 + side]], np.float32)


class ObjectStage:
    """One model call per frame: every crop is resized to the model's input and classified in a batch.

    A labeler: after a detector (``--plugin faces,objects``) it labels the boxes that passed the threshold
    and keeps their boxes and scores; each detection keeps the ``top_k`` best classes (probabilities, from
    ``Model.probabilities``) for the overlay. First in a chain it labels the frame's centre square, and
    that box's score is the best class's probability.
    """

    role = "labeler"

    def __init__(self, model: Model, top_k: int = 3) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:  # 0 failed every frame
            raise PluginError(f"objects: top_k must be a whole number of classes, at least 1, got {top_k!r}")
        self.name = "objects"
        self.model = model
        self.top_k = top_k
        spec = model.input_spec
        self.size = (int(spec.get("width") or 32), int(spec.get("height") or 32))

    def _label(self, i: int) -> str:
        return self.model.labels[i] if i < len(self.model.labels) else str(i)

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        h, w = frame.shape[:2]
        boxes = detections.boxes if len(detections) else centre_square(w, h)
        crops = []
        for x1, y1, x2, y2 in np.round(boxes).astype(int):
            x1, y1 = min(max(x1, 0), w - 1), min(max(y1, 0), h - 1)
            crop = frame[y1:max(min(y2, h), y1 + 1), x1:max(min(x2, w), x1 + 1)]
            crops.append(cv2.resize(crop, self.size, interpolation=cv2.INTER_AREA))
        probs = self.model.probabilities(np.stack(crops))
        order = np.argsort(-probs, axis=1)[:, : self.top_k]
        best = order[:, 0]
        top = tuple(tuple((self._label(int(j)), float(p[j])) for j in row)
                    for p, row in zip(probs, order, strict=True))
        labels = tuple(self._label(int(b)) for b in best)
        return Detections(boxes, probs[np.arange(len(best)), best], labels, top)
