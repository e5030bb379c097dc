"""Draw detections and the speed overlay on a frame with OpenCV (for saved video; the window uses Qt)."""

from __future__ import annotations

import cv2
import numpy as np

from xnorvision.pipeline._result import FrameResult

BOX_COLOUR = (60, 220, 60)  # BGR


def label_text(label: str, score: float) -> str:
    return f"{label} {score:.2f}"


def overlay_text(result: FrameResult) -> str:
    """``"12.3 FPS | stage 4.1 ms | ..."``: what both the video and the window print in the corner."""
    parts = [f"{result.fps:.1f} FPS"] if result.fps else []
    parts += [f"{name} {ms:.1f} ms" for name, ms in result.latency_ms.items()]
    return " | ".join(parts)


def annotate(result: FrameResult) -> np.ndarray:
    """A copy of the frame with boxes, labels, scores and the overlay drawn on it."""
    img = result.frame.copy()
    det = result.detections
    for (x1, y1, x2, y2), label, score in zip(det.boxes.astype(int), det.labels, det.scores, strict=True):
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), BOX_COLOUR, 2)
        cv2.putText(img, label_text(label, float(score)), (int(x1), max(12, int(y1) - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, BOX_COLOUR, 1, cv2.LINE_AA)
    text = overlay_text(result)
    if text:
        cv2.putText(img, text, (6, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return img
