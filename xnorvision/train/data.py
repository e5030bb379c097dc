"""CIFAR-style training data: decode the JPEG chunks once, cache the arrays, batch and augment in torch.

The decoded arrays live in an ignored cache folder (``.cache/`` by default, ``XNORVISION_CACHE`` to move it),
keyed by the hash of the source files, so a second run starts in a second and never copies data into git.
Validation is the tail of the last chunk (``val_size`` images), as the model card reports it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xnorvision._replace import replace_atomically
from xnorvision.errors import XnorvisionError
from xnorvision.eval.chunks import MAX_CLASSES, check_labels, read_jpeg_chunk

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
    """SHA-256 over the chunk files' bytes (recorded in the model's metadata)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        try:
            h.update(f.read_bytes())
        except PermissionError:
            raise XnorvisionError(f"{f}: permission denied") from None
    return h.hexdigest()


def _cache_dir() -> Path:
    return Path(os.environ.get("XNORVISION_CACHE", Path.cwd() / ".cache")) / "xnorvision"


def load_dataset(path: str | Path, val_size: int = 5000, limit: int | None = None,
                 classes: int = MAX_CLASSES) -> Dataset:
    """All chunks under ``path`` (a folder of ``train_*.npz`` or one file); the last ``val_size`` validate.

    ``limit`` keeps only the first ``limit`` training images (quick runs and tests); every label must be
    below ``classes`` (the network's outputs), checked on cached arrays too.
    """
    path = Path(path)
    files = _chunks(path)
    digest = data_hash(files)
    cache = _cache_dir() / f"chunks-{digest[:16]}.npz"
    if cache.is_file():
        with np.load(cache) as d:
            x, y = d["x"], d["y"]
    else:
        parts = [read_jpeg_chunk(f, classes=classes) for f in files]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        cache.parent.mkdir(parents=True, exist_ok=True)
        with replace_atomically(cache) as file:  # ranks of one torchrun may write it at once
            np.savez(file, x=x, y=y)
    try:
        y = check_labels(y, classes)
    except XnorvisionError as exc:
        raise XnorvisionError(f"{path}: {exc}") from None
    if not 0 < val_size < len(y):
        raise XnorvisionError(f"validation size {val_size} does not fit {len(y)} images")
    classes_file = (path if path.is_dir() else path.parent) / "classes.txt"
    k = int(y.max()) + 1
    classes = classes_file.read_text().split() if classes_file.is_file() else [str(i) for i in range(k)]
    tx, ty = x[:-val_size], y[:-val_size]
    if limit is not None:
        tx, ty = tx[:limit], ty[:limit]
    return Dataset(tx, ty, x[-val_size:], y[-val_size:], classes, digest)


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
