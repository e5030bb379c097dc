"""What the runner hands to sinks and the window for each frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xnorvision.detect._detections import Detections


@dataclass(frozen=True)
class FrameResult:
    """One processed frame: the image, its final detections and how long each stage took (ms)."""

    index: int
    timestamp: float
    frame: np.ndarray
    detections: Detections
    latency_ms: dict[str, float]
    fps: float | None = None  # the runner's recent processing rate, for overlays

    def to_json(self) -> dict[str, Any]:
        """The JSONL record: everything except the pixels."""
        return {
            "index": self.index,
            "timestamp": round(self.timestamp, 6),
            "detections": self.detections.to_json(),
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
        }
