"""Pooling: ``maxpool2d`` (float or bits), ``avgpool2d`` and ``global_avgpool``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xnorvision.runtime._layers import GlobalAvgPool, Layer, Pool
from xnorvision.runtime._schema import Ctx, Node, Result, TensorType, out_size
from xnorvision.runtime.ops._def import OpDef, Params
from xnorvision.runtime.ops._lowering import pair, pool_args, torch_functional
from xnorvision.runtime.ops._openvino import ov_ops


def _pool_schema(kind: str | None) -> Callable[[Ctx], Result]:
    def check(ctx: Ctx) -> Result:
        t = ctx.input(0, kind)
        kh, kw = ctx.pair("kernel")
        sh, sw = ctx.pair("stride", [kh, kw])
        ph, pw = ctx.pair("padding", 0, lo=0)
        if ph > kh // 2 or pw > kw // 2:
            raise ctx.fail("padding must be at most half the kernel")
        h, w = out_size(ctx, t.h, kh, sh, ph), out_size(ctx, t.w, kw, sw, pw)
        return TensorType(t.kind, 4, t.channels, h, w), {}

    return check


def _pool_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    return Pool(node.op, t_in.kind == "bits", node.attrs)


def _maxpool_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    return torch_functional().max_pool2d(xs[0], *pool_args(node.attrs))


def _avgpool_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    return torch_functional().avg_pool2d(xs[0], *pool_args(node.attrs), count_include_pad=False)


def _pool_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    ops, a = ov_ops(), node.attrs
    k = list(pair(a["kernel"]))
    stride, pad = list(pair(a.get("stride", a["kernel"]))), list(pair(a.get("padding", 0)))
    if node.op == "avgpool2d":
        return ops.avg_pool(xs[0], stride, pad, pad, k, True, "floor")
    return ops.max_pool(xs[0], stride, [1, 1], pad, pad, k, "floor")  # on bits: before the sign


def _global_avgpool_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float")
    return TensorType("float", 2, t.channels), {}


def _global_avgpool_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    return GlobalAvgPool()


def _global_avgpool_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    ops = ov_ops()
    return ops.reduce_mean(xs[0], ops.constant(np.array([2, 3], np.int64)), False)


DEFS = [
    OpDef("maxpool2d", _pool_schema(None), _pool_layer, _maxpool_torch, _pool_openvino, work="pool"),
    OpDef("avgpool2d", _pool_schema("float"), _pool_layer, _avgpool_torch, _pool_openvino, work="pool"),
    OpDef("global_avgpool", _global_avgpool_schema, _global_avgpool_layer,
          lambda node, xs, p: xs[0].mean((2, 3)), _global_avgpool_openvino, work="pool"),
]
