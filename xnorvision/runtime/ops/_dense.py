"""The fully-connected layers: float ``linear`` and XNOR ``binary_linear`` (bits in)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xnorvision.runtime._layers import BinaryLinear, Layer, Linear
from xnorvision.runtime._schema import F32, Ctx, Node, ParamSpec, Result, TensorType, scaled_params, words
from xnorvision.runtime.ops._def import OpDef, Params, packed_weight_check
from xnorvision.runtime.ops._lowering import torch_functional, unpack_signs
from xnorvision.runtime.ops._openvino import affine, ov_ops, per_channel, signs


def dense_macs(attrs: dict[str, Any], t_in: TensorType, t_out: TensorType) -> int:
    """Inputs x outputs."""
    return attrs["in_features"] * attrs["out_features"]


def _linear_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float", 2)
    k = ctx.channels(t, "in_features")
    o = ctx.int_("out_features")
    return TensorType("float", 2, o), {"weight": ParamSpec(F32, (o, k)), "bias": ParamSpec(F32, (o,), True)}


def _linear_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    return Linear(p["weight"], p.get("bias"))


def _linear_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    return torch_functional().linear(xs[0], p["weight"], p.get("bias"))


def _linear_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    ops = ov_ops()
    y = ops.matmul(xs[0], ops.constant(np.asarray(p["weight"], np.float32)), False, True)
    return y if "bias" not in p else ops.add(y, ops.constant(per_channel(p["bias"], 2)))


def _binary_linear_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "bits", 2)
    k = ctx.channels(t, "in_features")
    o = ctx.int_("out_features")
    return TensorType("float", 2, o), scaled_params((o, words(k)), o)


def _binary_linear_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    return BinaryLinear(p["weight"], p["scale"], p["bias"], t_in.channels or 0)


def _binary_linear_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    return torch_functional().linear(xs[0], p["weight"], None) * p["scale"] + p["bias"]


def _binary_linear_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    ops = ov_ops()
    w = ops.constant(unpack_signs(p["weight"], t_in.channels or 0))
    y = ops.matmul(signs(xs[0]), w, False, True)
    return affine(y.output(0), p["scale"], p["bias"])


DEFS = [
    OpDef("linear", _linear_schema, _linear_layer, _linear_torch, _linear_openvino, dense_macs,
          work="float conv"),
    OpDef("binary_linear", _binary_linear_schema, _binary_linear_layer, _binary_linear_torch,
          _binary_linear_openvino, dense_macs, kind="binary", work="binary conv",
          check_values=packed_weight_check("in_features")),
]
