"""Helpers the OpenVINO lowerings share: ops library access, per-channel affine, and two forms of ``sign``.

A ``bits`` tensor is kept in the OpenVINO graph as the float tensor whose signs it holds and binarized
right before the layer that reads it (see :mod:`xnorvision.bench._openvino_graph`). openvino is imported
when a lowering runs, never at import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the binarization threshold: the largest float32 below zero that survives flushing denormals
_THRESHOLD = -float(np.finfo(np.float32).tiny)


class Unsupported(Exception):
    """The graph uses something the OpenVINO lowering cannot reproduce exactly."""


def ov_ops() -> Any:
    """``openvino.opset8``, imported on first use."""
    import openvino.opset8 as ops

    return ops


def per_channel(v: np.ndarray, rank: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast over NCHW (rank 4) or NC (rank 2)."""
    return np.asarray(v, np.float32).reshape((1, -1, 1, 1) if rank == 4 else (1, -1))


def affine(x: Any, scale: np.ndarray, bias: np.ndarray | None) -> Any:
    """``x * scale + bias`` per channel."""
    ops, rank = ov_ops(), x.get_partial_shape().rank.get_length()
    y = ops.multiply(x, ops.constant(per_channel(scale, rank)))
    return y if bias is None else ops.add(y, ops.constant(per_channel(bias, rank)))


def binarize(x: Any) -> Any:
    """``sign`` as OpenVINO's binarized models write it: a 2-level FakeQuantize, < 0 to 0, >= 0 to 1.

    Only a BinaryConvolution may read it: elsewhere OpenVINO computes the FakeQuantize's general formula,
    which divides by its zero-width input range (NaN); other readers take :func:`signs`.
    """
    ops, rank = ov_ops(), x.get_partial_shape().rank.get_length()
    t = ops.constant(np.full([1] * rank, _THRESHOLD, np.float32))
    return ops.fake_quantize(x, t, t, ops.constant(np.zeros([1] * rank, np.float32)),
                             ops.constant(np.ones([1] * rank, np.float32)), 2)


def signs(x: Any) -> Any:
    """``sign`` as ±1 floats (1 where ``x >= 0``), for a binary linear layer and a bits graph output."""
    ops = ov_ops()
    return ops.select(ops.greater_equal(x, np.float32(0)), np.float32(1), np.float32(-1)).output(0)
