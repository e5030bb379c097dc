"""The JPEG chunk file (``train_*.npz``: ``jpeg``, ``offsets``, ``y``), read and validated in one place.

``eval classify`` and ``train`` both read chunks through :func:`read_jpeg_chunk`, so a file either passes
the same checks for both or is refused with the same one-line :class:`XnorvisionError`. Array headers are
checked against the bytes the archive really holds before any array is read: a hostile header cannot make
us allocate exabytes, and no size read from the file is trusted before it is checked.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from xnorvision import _ram
from xnorvision._opencv import decode_image
from xnorvision.errors import XnorvisionError

__all__ = ["MAX_CLASSES", "check_labels", "load_chunk", "read_jpeg_chunk"]

#: Largest number of classes a label may index (a confusion matrix is classes x classes).
MAX_CLASSES = 1000


def _member_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of ``name.npy``, after checking its header declares exactly the bytes stored."""
    fmt = np.lib.format
    try:
        info = archive.getinfo(f"{name}.npy")
    except KeyError:
        raise XnorvisionError(f"no array {name!r}") from None
    with archive.open(info) as f:
        version = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        stored = info.file_size - f.tell()
    if dtype.hasobject:
        raise XnorvisionError(f"array {name!r} holds Python objects")
    if fortran or int(np.prod(shape, dtype=object)) * dtype.itemsize != stored:
        raise XnorvisionError(f"array {name!r} declares {shape} {dtype} but stores {stored} bytes")
    return shape, dtype


#: The dtype kinds each member may have: JPEG bytes, byte offsets, class labels.
_KINDS = {"jpeg": "u", "offsets": "iu", "y": "iu"}


def _check_header(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) != 1 or dtype.kind not in _KINDS[name] or (name == "jpeg" and dtype.itemsize != 1):
        raise XnorvisionError(f"{name!r} must be a 1-D integer array, got {dtype} {shape}")


def check_labels(labels: np.ndarray, classes: int = MAX_CLASSES) -> np.ndarray:
    """``labels`` as int64 after checking each is a class index in ``[0, classes)``."""
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise XnorvisionError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise XnorvisionError(f"labels must lie in 0..{classes - 1}, found {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def load_chunk(path: str | Path, classes: int = MAX_CLASSES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(jpeg, offsets, labels)`` of a chunk file whose schema and values are checked (one-line errors)."""
    if not Path(path).is_file():  # missing, a folder, or a FIFO/device that would block or never end
        raise XnorvisionError(f"{path}: not a JPEG chunk file (no such regular file)")
    try:
        with zipfile.ZipFile(path) as archive:
            for name in _KINDS:
                _check_header(name, *_member_header(archive, name))
        with np.load(path, allow_pickle=False) as d:
            jpeg, offsets, labels = d["jpeg"], d["offsets"].astype(np.int64), d["y"]
    except PermissionError:
        raise XnorvisionError(f"{path}: permission denied") from None
    except XnorvisionError as exc:
        raise XnorvisionError(f"{path}: not a JPEG chunk file (jpeg, offsets, y): {exc}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise XnorvisionError(f"{path}: not a JPEG chunk file (jpeg, offsets, y): {exc}") from None
    n = len(offsets) - 1
    if n < 1 or n != len(labels):
        raise XnorvisionError(f"{path}: {max(n, 0)} images by their offsets but {len(labels)} labels")
    if offsets[0] < 0 or offsets[-1] > len(jpeg) or np.any(np.diff(offsets) <= 0):
        raise XnorvisionError(f"{path}: offsets must rise strictly, from 0 up to {len(jpeg)} (the JPEG size)")
    try:
        labels = check_labels(labels, classes)
    except XnorvisionError as exc:
        raise XnorvisionError(f"{path}: {exc}") from None
    return jpeg, offsets, labels


def read_jpeg_chunk(path: str | Path, start: int = 0, stop: int | None = None,
                    classes: int = MAX_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """Decode images ``start:stop`` of a chunk file into BGR uint8 ``(N, H, W, 3)`` and their labels."""
    jpeg, offsets, labels = load_chunk(path, classes)
    idx = range(len(labels))[start:stop]
    images: list[np.ndarray] = []
    for i in idx:
        img = decode_image(jpeg[offsets[i]:offsets[i + 1]], f"{path}: image {i}")
        if img is None:
            raise XnorvisionError(f"{path}: image {i} is not a decodable JPEG")
        if images and img.shape != images[0].shape:
            raise XnorvisionError(f"{path}: images differ in size")
        if not images:  # all of this size, held twice while the list becomes one array: do they fit?
            need = 2 * len(idx) * img.nbytes
            if (available := _ram.short_of(need)) is not None:
                raise XnorvisionError(f"{path}: {len(idx)} images of {img.shape[1]}x{img.shape[0]} would "
                                      f"take about {_ram.gigabytes(need)}, {_ram.over_half(available)}")
        images.append(img)
    if not images:
        raise XnorvisionError(f"{path}: no images in range {start}:{stop}")
    return np.stack(images), labels[idx.start:idx.stop]
