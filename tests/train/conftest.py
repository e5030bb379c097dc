"""Tiny synthetic CIFAR-like data: two classes a small network separates in a few steps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def synthetic_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: dark images with a bright square; class 1: bright images with a dark square (BGR uint8)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.uint8)
    x = rng.integers(0, 60, (n, 32, 32, 3)).astype(np.uint8)
    x[y == 1] = 255 - x[y == 1]
    for i in range(n):
        r, c = rng.integers(4, 20, 2)
        x[i, r:r + 8, c:c + 8] = 255 - x[i, r:r + 8, c:c + 8]
    return x, y


@pytest.fixture
def chunk_file(tmp_path):
    """A ``train_0.npz`` JPEG chunk of 320 synthetic images and its ``classes.txt``."""
    x, y = synthetic_images(320)
    files = [np.frombuffer(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes(), np.uint8)
             for img in x]
    offsets = np.cumsum([0] + [len(f) for f in files]).astype(np.int64)
    folder = tmp_path / "data"
    folder.mkdir()
    np.savez(folder / "train_0.npz", jpeg=np.concatenate(files), offsets=offsets, y=y)
    (folder / "classes.txt").write_text("dark\nbright\n")
    return folder
