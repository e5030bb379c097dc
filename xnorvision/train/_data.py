"""Training data: CIFAR-style JPEG chunks or an image folder; batch and augment in torch.

Chunks are decoded once into an ignored cache folder (``.cache/`` by default, ``XNORVISION_CACHE`` to move
it), keyed by the hash of the source files, so a second run starts in a second and never copies data into
git. Their validation set is the tail of the last chunk (``val_size`` images), as the model card reports
it. An image folder (one sub-folder per class, the names are the labels) is resized to the input size and
split at random with a seed (``holdout`` of it validates).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xnorvision import _ram
from xnorvision._replace import replace_atomically
from xnorvision.errors import XnorvisionError
from xnorvision.eval._chunks import MAX_CLASSES, check_labels, read_jpeg_chunk
from xnorvision.eval._image_folder import SUFFIXES, count_images, is_image_folder, read_image_folder

__all__ = ["MEAN", "STD", "Dataset", "data_hash", "input_spec", "load_dataset", "to_tensor"]

# Per-channel statistics of CIFAR-10 in RGB order; recorded in the exported model's input spec.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def input_spec(height: int | None = 32, width: int | None = 32) -> dict:
    """The .xnv input spec matching :func:`to_tensor` (BGR uint8 in, RGB normalised out)."""
    return {"height": height, "width": width, "channels": 3, "channel_order": "rgb",
            "mean": list(MEAN), "std": list(STD)}


@dataclass
class Dataset:
    """Decoded images (BGR uint8 NHWC) and labels of one split."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    classes: list[str]
    hash: str


def _chunks(path: Path) -> list[Path]:
    files = sorted(path.glob("train_*.npz")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise XnorvisionError(f"{path}: no JPEG chunk files (train_*.npz) found")
    return files


def data_hash(files: list[Path]) -> str:
    """SHA-256 over each file's name and bytes, recorded in a model's metadata: what a run trained on (the
    data chunks here, a plugin's cached samples). Read in 1 MB pieces, so a large cache is never in memory."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        try:
            with open(f, "rb") as data:
                for piece in iter(lambda: data.read(1 << 20), b""):
                    h.update(piece)
        except PermissionError:
            raise XnorvisionError(f"{f}: permission denied") from None
    return h.hexdigest()


def _cache_dir() -> Path:
    return Path(os.environ.get("XNORVISION_CACHE", Path.cwd() / ".cache")) / "xnorvision"


def load_dataset(path: str | Path, val_size: int = 5000, limit: int | None = None, *, holdout: float = 0.2,
                 size: int = 32, seed: int = 0) -> Dataset:
    """All chunks under ``path`` (a folder of ``train_*.npz`` or one file); the last ``val_size`` validate.

    An image folder instead is resized to ``size`` x ``size`` and a seeded random ``holdout`` fraction of
    it validates. ``limit`` keeps only the first ``limit`` training images (quick runs and tests). Every
    label must name a class: one of ``classes.txt`` beside the chunks where it exists, else below
    :data:`~xnorvision.eval._chunks.MAX_CLASSES`; cached arrays are checked too.
    """
    path = Path(path)
    if is_image_folder(path):
        return _folder_dataset(path, holdout, size, seed, limit)
    files = _chunks(path)
    digest = data_hash(files)
    cache = _cache_dir() / f"chunks-{digest[:16]}.npz"
    if cache.is_file():
        with np.load(cache) as d:
            x, y = d["x"], d["y"]
    else:
        parts = [read_jpeg_chunk(f) for f in files]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        cache.parent.mkdir(parents=True, exist_ok=True)
        with replace_atomically(cache) as file:  # ranks of one torchrun may write it at once
            np.savez(file, x=x, y=y)
    classes_file = (path if path.is_dir() else path.parent) / "classes.txt"
    names = classes_file.read_text().split() if classes_file.is_file() else None
    try:  # a label the network has no output for fails in the loss, minutes in: refuse it now
        y = check_labels(y, MAX_CLASSES if names is None else len(names))
    except XnorvisionError as exc:
        raise XnorvisionError(f"{path}: {exc}") from None
    if not 0 < val_size < len(y):
        raise XnorvisionError(f"validation size {val_size} does not fit {len(y)} images")
    classes = names if names is not None else [str(i) for i in range(int(y.max()) + 1)]
    tx, ty = x[:-val_size], y[:-val_size]
    if limit is not None:
        tx, ty = tx[:limit], ty[:limit]
    return Dataset(tx, ty, x[-val_size:], y[-val_size:], classes, digest)


def _folder_dataset(path: Path, holdout: float, size: int, seed: int, limit: int | None) -> Dataset:
    if not 0 < holdout < 1:
        raise XnorvisionError(f"--holdout {holdout}: give the validation fraction, between 0 and 1")
    # every image is held at size x size, twice while the list becomes one array, then split in a copy
    need = 3 * count_images(path) * size * size * 3
    if (available := _ram.short_of(need)) is not None:
        raise XnorvisionError(f"--data {path}: its images at {size}x{size} would take about "
                              f"{_ram.gigabytes(need)}, {_ram.over_half(available)}; give a smaller "
                              f"--input-size")
    x, y, classes = read_image_folder(path, (size, size))
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, round(holdout * len(y)))
    if n_val >= len(y):
        raise XnorvisionError(f"{path}: {len(y)} images are too few to hold out {holdout:g} of them")
    val, tr = order[:n_val], order[n_val:]
    if limit is not None:
        tr = tr[:limit]
    files = sorted(f for f in path.rglob("*") if f.suffix.lower() in SUFFIXES)
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return Dataset(x[tr], y[tr], x[val], y[val], classes, h.hexdigest())


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """BGR uint8 NHWC -> normalised RGB float32 NCHW, bit-identical to the runtime's input stage.

    The runtime computes ``pixel * (1 / (255 * std)) + (-mean / std)`` with float32 constants; doing the
    same here keeps the first sign decisions of an exported model identical to training's.
    """
    std, mean = np.asarray(STD, np.float32), np.asarray(MEAN, np.float32)
    scale = torch.from_numpy((1.0 / (255.0 * std)).astype(np.float32)).view(1, 3, 1, 1)
    shift = torch.from_numpy((-mean / std).astype(np.float32)).view(1, 3, 1, 1)
    x = torch.from_numpy(np.ascontiguousarray(images[..., ::-1])).permute(0, 3, 1, 2).float()
    return (x * scale + shift).to(device)


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding of ``pad``) and horizontal flip, per image, on an NCHW batch."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    flip = torch.rand(n, generator=generator).lt(0.5).tolist()
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out
