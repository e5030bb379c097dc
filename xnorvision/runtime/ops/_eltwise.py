"""Elementwise and per-channel ops: ``sign``, ``batch_norm``, ``relu``, ``sigmoid``, ``hardtanh``, ``prelu``,
``add`` and ``softmax``."""

from __future__ import annotations

from typing import Any

import numpy as np

from xnorvision.errors import ModelFormatError
from xnorvision.runtime._layers import Add, Affine, Func, Layer, PReLU, Sign
from xnorvision.runtime._schema import (
    F32,
    Ctx,
    Node,
    ParamSpec,
    Result,
    TensorType,
    known_channels,
    same_shape,
)
from xnorvision.runtime.ops._def import OpDef, Params
from xnorvision.runtime.ops._lowering import torch_functional, torch_sign
from xnorvision.runtime.ops._openvino import affine, ov_ops


def _float_in(ctx: Ctx) -> Result:
    return ctx.input(0, "float", None), {}


# -- sign -------------------------------------------------------------------------------------------------
def _sign_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float", None)
    return TensorType("bits", t.rank, t.channels, t.h, t.w), {}


# -- batch_norm -------------------------------------------------------------------------------------------
def bn_affine(params: dict[str, np.ndarray], eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Batch norm as ``x * a + b``."""
    with np.errstate(all="ignore"):  # extreme values overflow: the finite check after folding reports them
        a = params["weight"].astype(np.float64) / np.sqrt(params["running_var"].astype(np.float64) + eps)
        b = params["bias"].astype(np.float64) - params["running_mean"] * a
    return a, b


def _batch_norm_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float", None)
    ctx.number("eps", 1e-5)
    c = known_channels(ctx, t)
    return t, {k: ParamSpec(F32, (c,)) for k in ("weight", "bias", "running_mean", "running_var")}


def _batch_norm_values(node: Node, p: Params) -> None:
    if np.any(p["running_var"] + node.attrs.get("eps", 1e-5) <= 0):
        raise ModelFormatError(f"node {node.name!r}: running_var + eps must be positive")


def _batch_norm_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    return torch_functional().batch_norm(xs[0], p["running_mean"], p["running_var"], p["weight"], p["bias"],
                                         False, 0.0, node.attrs.get("eps", 1e-5))


def _batch_norm_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    a, b = bn_affine(p, node.attrs.get("eps", 1e-5))
    return affine(xs[0], a, b)


# -- relu, sigmoid, hardtanh, softmax ---------------------------------------------------------------------
def _hardtanh_schema(ctx: Ctx) -> Result:
    lo, hi = ctx.number("min_val", -1.0), ctx.number("max_val", 1.0)
    if lo > hi:
        raise ctx.fail("min_val must not exceed max_val")
    return _float_in(ctx)


def _hardtanh_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    lo, hi = float(node.attrs.get("min_val", -1.0)), float(node.attrs.get("max_val", 1.0))
    return Func(lambda xs: np.clip(xs[0], lo, hi))


def _hardtanh_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    a = node.attrs
    return ov_ops().clamp(xs[0], float(a.get("min_val", -1.0)), float(a.get("max_val", 1.0)))


def _softmax_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float", None)
    ctx.choice("axis", (-1, t.rank - 1), -1)
    return t, {}


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so large logits do not overflow."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _torch() -> Any:
    import torch

    return torch


# -- prelu, add -------------------------------------------------------------------------------------------
def _prelu_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float", None)
    n = ctx.int_("num_parameters", known_channels(ctx, t))
    if n not in (1, t.channels):
        raise ctx.fail(f"num_parameters must be 1 or the channel count {t.channels}, got {n}")
    return t, {"weight": ParamSpec(F32, (n,))}


def _prelu_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    ops = ov_ops()
    return ops.prelu(xs[0], ops.constant(np.asarray(p["weight"], np.float32)))


def _add_schema(ctx: Ctx) -> Result:
    if len(ctx.ins) != 2:
        raise ctx.fail("needs exactly two inputs")
    a, b = ctx.input(0, "float", None), ctx.input(1, "float", None)
    if a.rank != b.rank:
        raise ctx.fail("inputs differ in rank")
    same_shape(ctx, a, b)
    return a, {}


DEFS = [
    OpDef("sign", _sign_schema,
          layer=lambda node, p, t_in: Sign(),
          to_torch=lambda node, xs, p: torch_sign(xs[0]),
          to_openvino=lambda node, xs, p, t_in: xs[0],  # binarized by the binary layer that reads it
          work="pack"),
    OpDef("batch_norm", _batch_norm_schema,
          layer=lambda node, p, t_in: Affine(p["a"], p["b"]),  # a, b: folded at load time
          to_torch=_batch_norm_torch, to_openvino=_batch_norm_openvino, work="elementwise",
          check_values=_batch_norm_values),
    OpDef("relu", _float_in,
          layer=lambda node, p, t_in: Func(lambda xs: np.maximum(xs[0], 0, dtype=np.float32)),
          to_torch=lambda node, xs, p: torch_functional().relu(xs[0]),
          to_openvino=lambda node, xs, p, t_in: ov_ops().relu(xs[0]), work="elementwise"),
    OpDef("sigmoid", _float_in,
          layer=lambda node, p, t_in: Func(lambda xs: (1.0 / (1.0 + np.exp(-xs[0]))).astype(np.float32)),
          to_torch=lambda node, xs, p: _torch().sigmoid(xs[0]),
          to_openvino=lambda node, xs, p, t_in: ov_ops().sigmoid(xs[0]),
          work="elementwise", probabilities=True),
    OpDef("hardtanh", _hardtanh_schema, _hardtanh_layer,
          to_torch=lambda node, xs, p: torch_functional().hardtanh(xs[0], node.attrs.get("min_val", -1.0),
                                                                   node.attrs.get("max_val", 1.0)),
          to_openvino=_hardtanh_openvino, work="elementwise"),
    OpDef("prelu", _prelu_schema,
          layer=lambda node, p, t_in: PReLU(p["weight"]),
          to_torch=lambda node, xs, p: torch_functional().prelu(xs[0], p["weight"]),
          to_openvino=_prelu_openvino, work="elementwise"),
    OpDef("add", _add_schema,
          layer=lambda node, p, t_in: Add(),
          to_torch=lambda node, xs, p: xs[0] + xs[1],
          to_openvino=lambda node, xs, p, t_in: ov_ops().add(xs[0], xs[1]),
          variadic=True, work="elementwise"),
    OpDef("softmax", _softmax_schema,
          layer=lambda node, p, t_in: Func(lambda xs: softmax(xs[0]).astype(np.float32)),
          to_torch=lambda node, xs, p: _torch().softmax(xs[0], 1),
          to_openvino=lambda node, xs, p, t_in: ov_ops().softmax(xs[0], 1),  # the channel axis, last in NHWC
          work="elementwise", probabilities=True),
]
