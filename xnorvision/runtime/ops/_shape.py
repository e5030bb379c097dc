"""Ops that move values without arithmetic: ``concat``, ``upsample_nearest`` and ``flatten``."""

from __future__ import annotations

from typing import Any

import numpy as np

from xnorvision.runtime._layers import Concat, Flatten, Func, Layer
from xnorvision.runtime._schema import Ctx, Node, Result, TensorType, same_shape
from xnorvision.runtime.ops._def import OpDef, Params
from xnorvision.runtime.ops._lowering import torch_functional
from xnorvision.runtime.ops._openvino import ov_ops


def _concat_schema(ctx: Ctx) -> Result:
    first = ctx.input(0, "float", None)
    ctx.choice("axis", (-1, first.rank - 1), -1)  # channels only
    total: int | None = 0
    for i in range(len(ctx.ins)):
        t = ctx.input(i, "float", first.rank)
        same_shape(ctx, first, t, channels=False)
        total = None if total is None or t.channels is None else total + t.channels
    return TensorType("float", first.rank, total, first.h, first.w), {}


def _concat_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    import torch

    return torch.cat(xs, 1)


def _upsample_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float")
    s = ctx.int_("scale", hi=64)
    h, w = (None if v is None else v * s for v in (t.h, t.w))
    return TensorType("float", 4, t.channels, h, w), {}


def _upsample(x: np.ndarray, s: int) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(np.repeat(x, s, axis=1), s, axis=2))


def _upsample_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    s = node.attrs.get("scale", 1)
    return Func(lambda xs: _upsample(xs[0], s))


def _upsample_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    return torch_functional().interpolate(xs[0], scale_factor=node.attrs["scale"], mode="nearest")


def _upsample_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    import openvino.opset11 as ops11

    s = float(node.attrs["scale"])
    return ops11.interpolate(xs[0], np.array([s, s], np.float32), "nearest", "scales",
                             coordinate_transformation_mode="asymmetric", nearest_mode="floor",
                             axes=np.array([2, 3], np.int64))


def _flatten_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float")
    known = None not in (t.h, t.w, t.channels)
    return TensorType("float", 2, t.h * t.w * t.channels if known else None), {}  # type: ignore[operator]


def _flatten_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    """Our flatten reads NHWC order: transpose back before reshaping."""
    ops = ov_ops()
    nhwc = ops.transpose(xs[0], ops.constant(np.array([0, 2, 3, 1], np.int64)))
    return ops.reshape(nhwc, ops.constant(np.array([0, -1], np.int64)), True)


DEFS = [
    OpDef("concat", _concat_schema, lambda node, p, t_in: Concat(),
          _concat_torch, lambda node, xs, p, t_in: ov_ops().concat(xs, 1), variadic=True, work="copy"),
    OpDef("upsample_nearest", _upsample_schema, _upsample_layer, _upsample_torch, _upsample_openvino,
          work="copy"),
    OpDef("flatten", _flatten_schema,
          lambda node, p, t_in: Flatten(),
          lambda node, xs, p: xs[0].permute(0, 2, 3, 1).flatten(1), _flatten_openvino, work="copy"),
]
