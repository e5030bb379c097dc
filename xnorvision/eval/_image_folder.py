"""An image-folder data set: one sub-folder per class, the folder names are the labels (sorted).

``xnorvision train --data DIR`` trains on it and ``xnorvision eval classify --data DIR`` scores on it, so
both read the same files in the same order with the same class indices.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from xnorvision._opencv import read_image
from xnorvision.errors import XnorvisionError

__all__ = ["count_images", "is_image_folder", "read_image_folder"]
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _listing(folder: Path) -> list[Path]:
    """The entries of ``folder``; one we may not list is "permission denied", not a bug."""
    try:
        return list(folder.iterdir())
    except PermissionError:
        raise XnorvisionError(f"{folder}: permission denied") from None


def _classes(root: Path) -> list[Path]:
    return sorted(d for d in _listing(root) if d.is_dir() and not d.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    """The image files of a class folder: regular files only (a FIFO named ``b.png`` would block forever)."""
    return sorted(f for f in _listing(folder) if f.suffix.lower() in SUFFIXES and f.is_file())


def is_image_folder(path: str | Path) -> bool:
    """A folder with at least one class sub-folder (a folder of chunk files is not one)."""
    path = Path(path)
    return path.is_dir() and bool(_classes(path))


def count_images(root: str | Path) -> int:
    """How many images :func:`read_image_folder` would read from ``root`` (before reading any)."""
    return sum(len(_images(folder)) for folder in _classes(Path(root)))


def read_image_folder(
    root: str | Path, size: tuple[int, int] | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[list[np.ndarray] | np.ndarray, np.ndarray, list[str]]:
    """BGR uint8 images, their class indices and the class names of ``root/<class>/<image>``.

    With ``size`` (width, height) every image is resized to it and the images come as one NHWC array;
    without, as a list, each in its own size or as ``prepare`` makes it when it is read (a model's
    ``fit_image``: a folder of photos held at full size would fill the memory). Files are taken in sorted
    order, class by class.
    """
    root = Path(root)
    if not root.is_dir():
        raise XnorvisionError(f"{root}: no such folder")
    folders = _classes(root)
    if len(folders) < 2:
        raise XnorvisionError(f"{root}: an image-folder data set needs at least 2 class sub-folders, "
                              f"found {len(folders)}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index, folder in enumerate(folders):
        files = _images(folder)
        if not files:
            raise XnorvisionError(f"{folder}: no images ({', '.join(sorted(SUFFIXES))})")
        for f in files:
            img = read_image(f)
            if img is None:
                reason = "permission denied" if not os.access(f, os.R_OK) else "not an image or corrupt"
                raise XnorvisionError(f"{f}: cannot read this image ({reason})")
            if size is not None:
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            images.append(img if prepare is None else prepare(img))
            labels.append(index)
    return (images if size is None else np.stack(images)), np.asarray(labels, np.int64), [
        f.name for f in folders]
