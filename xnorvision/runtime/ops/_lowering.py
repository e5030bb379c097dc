"""Helpers the torch and OpenVINO lowerings of several ops share (numpy only; torch imported when called)."""

from __future__ import annotations

from typing import Any

import numpy as np


def pair(v: int | list[int]) -> tuple[int, int]:
    """An int or a two-int list as (height, width)."""
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def same_pads(attrs: dict[str, Any]) -> tuple[int, int]:
    """(pad_h, pad_w) of a conv's ``padding`` ("same": ``(k - 1) // 2``, else 0)."""
    kh, kw = pair(attrs["kernel"])
    return ((kh - 1) // 2, (kw - 1) // 2) if attrs.get("padding", "valid") == "same" else (0, 0)


def pool_args(attrs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(kernel, stride, padding) of a pooling node, stride defaulting to the kernel."""
    return attrs["kernel"], attrs.get("stride", attrs["kernel"]), attrs.get("padding", 0)


def unpack_signs(words: np.ndarray, n: int) -> np.ndarray:
    """Packed uint64 words (last axis) -> float32 ±1 values (last axis ``n``): bit 1 is -1."""
    bytes_ = words.astype("<u8").view(np.uint8)
    bits = np.unpackbits(bytes_, axis=-1, bitorder="little")[..., :n]
    return (1.0 - 2.0 * bits).astype(np.float32)


def signs_oihw(weight: np.ndarray, c_in: int) -> np.ndarray:
    """Packed [O, kh, kw, words] -> float ±1 [O, C, kh, kw]."""
    return unpack_signs(weight, c_in).transpose(0, 3, 1, 2)


def torch_sign(x: Any) -> Any:
    """``sign`` as the runtime computes it on a torch tensor: +1 where ``x >= 0``, else -1."""
    import torch

    return torch.where(x >= 0, 1.0, -1.0)


def torch_functional() -> Any:
    """``torch.nn.functional``, imported on first use."""
    import torch.nn.functional as F

    return F
