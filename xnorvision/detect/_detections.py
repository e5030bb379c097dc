"""The one result type every stage, sink and plugin speaks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TopK = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    ``boxes`` are ``(N, 4)`` float32 ``x1, y1, x2, y2`` in frame pixels, ``scores`` ``(N,)`` float32 in
    [0, 1], ``labels`` one string per box. ``top_k`` optionally holds, per box, the object classifier's best
    classes with their probabilities (empty tuple when no classifier ran).

    Boxes and scores are finite: a NaN or infinite one raises ``ValueError`` here, in the stage that made
    it (the runner counts it as that stage's error), instead of crashing the drawing or reaching the JSONL.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: tuple[str, ...]
    top_k: tuple[TopK, ...] = field(default=())

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "top_k", tuple(tuple(t) for t in self.top_k))
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            raise ValueError("Detections: NaN or infinite boxes or scores")
        n = len(boxes)
        if len(scores) != n or len(self.labels) != n or (self.top_k and len(self.top_k) != n):
            raise ValueError(
                f"Detections: {n} boxes but {len(scores)} scores, {len(self.labels)} labels, "
                f"{len(self.top_k)} top_k entries"
            )

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), ())

    @classmethod
    def from_boxes(cls, boxes: np.ndarray, scores: np.ndarray, label: str) -> Detections:
        """Detections that all share one label (what a single-class detector returns)."""
        return cls(boxes, scores, (label,) * len(np.asarray(scores).reshape(-1)))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, index: np.ndarray | Sequence[int]) -> Detections:
        """A subset by boolean mask or integer indices, order kept."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        elif idx.size == 0:  # ``[]`` is a float array to numpy, which cannot index
            idx = idx.astype(np.intp)
        return Detections(
            self.boxes[idx],
            self.scores[idx],
            tuple(self.labels[i] for i in idx),
            tuple(self.top_k[i] for i in idx) if self.top_k else (),
        )

    def to_json(self) -> list[dict[str, Any]]:
        """Plain JSON-able records, one per box (what the JSONL sink writes)."""
        out = []
        for i in range(len(self)):
            rec: dict[str, Any] = {
                "box": [round(float(v), 2) for v in self.boxes[i]],
                "score": round(float(self.scores[i]), 4),
                "label": self.labels[i],
            }
            if self.top_k:
                rec["top_k"] = [[name, round(float(p), 4)] for name, p in self.top_k[i]]
            out.append(rec)
        return out
