"""``xnorvision eval classify``: accuracy of an image classifier (.xnv) on a JPEG chunk file, no torch.

A chunk file is the format of ``../shared/data/cifar10/train_*.npz``: ``jpeg`` (concatenated JPEG files),
``offsets`` (n + 1 byte offsets), ``y`` (labels), read and checked by :mod:`xnorvision.eval._chunks`.
Results are plain data so the CLI, tests and model cards all read the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from xnorvision.eval._chunks import read_jpeg_chunk

__all__ = ["ClassifyReport", "confusion_image", "evaluate_classifier", "read_jpeg_chunk", "read_labelled"]


def read_labelled(path: str | Path, last: int | None = None,
                  prepare: Callable[[np.ndarray], np.ndarray] | None = None,
                  ) -> tuple[object, np.ndarray, list[str] | None]:
    """Images, labels and class names (None when unknown) of an image folder or a chunk file.

    A chunk file's class names come from ``classes.txt`` beside it (one per line, in label order), as in
    ``../shared/data/cifar10``; ``last`` keeps the last N images (the held-out tail of a chunk);
    ``prepare`` makes each image of a folder as it is read (see :func:`read_image_folder`).
    """
    from xnorvision.eval._image_folder import is_image_folder, read_image_folder

    path = Path(path)
    if is_image_folder(path):
        images, labels, classes = read_image_folder(path, prepare=prepare)
        start = -last if last else 0
        return images[start:], labels[start:], classes
    images, labels = read_jpeg_chunk(path, start=-last if last else 0)
    names = path.parent / "classes.txt"
    return images, labels, names.read_text().split() if names.is_file() else None


@dataclass(frozen=True)
class ClassifyReport:
    """What ``eval classify`` measured."""

    model: str
    data: str
    images: int
    top1: float
    per_class: dict[str, float]
    confusion: list[list[int]]
    images_per_s: float
    batch: int

    def to_dict(self) -> dict:
        return asdict(self)


def confusion_image(confusion: np.ndarray, labels: list[str], cell: int = 40) -> np.ndarray:
    """A BGR picture of a confusion matrix (rows = truth, columns = prediction), drawn with OpenCV only."""
    k = confusion.shape[0]
    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    margin = 110
    img = np.full((margin + k * cell + 10, margin + k * cell + 10, 3), 255, np.uint8)
    for t in range(k):
        for p in range(k):
            shade = int(255 * (1 - rows[t, p]))
            y0, x0 = margin + t * cell, margin + p * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell - 1, y0 + cell - 1), (255, shade, shade), -1)
            color = (255, 255, 255) if rows[t, p] > 0.5 else (0, 0, 0)
            cv2.putText(img, str(int(confusion[t, p])), (x0 + 3, y0 + cell // 2 + 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.33, color, 1, cv2.LINE_AA)
    for i, name in enumerate(labels[:k]):
        cv2.putText(img, name[:12], (4, margin + i * cell + cell // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
        col = np.full((cell, margin - 6, 3), 255, np.uint8)
        cv2.putText(col, name[:12], (2, cell // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
        img[4:margin - 2, margin + i * cell:margin + (i + 1) * cell] = np.rot90(col)[:margin - 6]
    return img


def evaluate_classifier(model: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray, *,
                        labels_names: list[str] | None = None, batch: int = 100, model_name: str = "",
                        data_name: str = "") -> ClassifyReport:
    """Run ``model`` (``model(bgr_batch) -> scores [N, K]``, e.g. a runtime ``Model``) and score it.

    Images/s counts only the model calls (decoding is excluded), over the whole set.
    """
    preds = []
    elapsed = 0.0
    for i in range(0, len(images), batch):
        t0 = time.perf_counter()
        scores = np.asarray(model(images[i:i + batch]))
        elapsed += time.perf_counter() - t0
        preds.append(scores.argmax(axis=1))
    pred = np.concatenate(preds)
    k = max(int(labels.max()) + 1, int(pred.max()) + 1, len(labels_names or []))
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    names = list(labels_names) if labels_names else [str(i) for i in range(k)]
    names += [str(i) for i in range(len(names), k)]
    totals = confusion.sum(axis=1)
    per_class = {names[c]: float(confusion[c, c] / totals[c]) for c in range(k) if totals[c]}
    return ClassifyReport(model=model_name, data=data_name, images=len(labels),
                          top1=float((pred == labels).mean()), per_class=per_class,
                          confusion=confusion.tolist(), images_per_s=len(labels) / max(elapsed, 1e-9),
                          batch=batch)
