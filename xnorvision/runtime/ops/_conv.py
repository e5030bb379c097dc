"""The convolutions: float ``conv2d``, XNOR ``binary_conv2d`` (bits in), ``bwn_conv2d`` (binary weights)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xnorvision.runtime._layers import BinaryConv2d, BwnConv2d, Conv2d, Layer
from xnorvision.runtime._schema import (
    F32,
    Ctx,
    Node,
    ParamSpec,
    Result,
    TensorType,
    conv_geometry,
    scaled_params,
    words,
)
from xnorvision.runtime.ops._def import OpDef, Params, packed_weight_check
from xnorvision.runtime.ops._lowering import pair, same_pads, signs_oihw, torch_functional, torch_sign
from xnorvision.runtime.ops._openvino import Unsupported, affine, binarize, ov_ops, per_channel


def conv_macs(attrs: dict[str, Any], t_in: TensorType, t_out: TensorType) -> int | None:
    """Output pixels x output channels x taps x input channels per group."""
    if t_out.h is None or t_out.w is None:
        return None
    kh, kw = pair(attrs["kernel"])
    cin = attrs["in_channels"] // attrs.get("groups", 1)
    return t_out.h * t_out.w * attrs["out_channels"] * kh * kw * cin


# -- conv2d -----------------------------------------------------------------------------------------------
def _conv2d_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float")
    c = ctx.channels(t, "in_channels")
    o = ctx.int_("out_channels")
    g = ctx.int_("groups", 1)
    if c % g or o % g:
        raise ctx.fail(f"groups {g} must divide in_channels {c} and out_channels {o}")
    kh, kw, h, w = conv_geometry(ctx, t, any_stride=True)
    return TensorType("float", 4, o, h, w), {"weight": ParamSpec(F32, (o, kh, kw, c // g)),
                                             "bias": ParamSpec(F32, (o,), optional=True)}


def _conv2d_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    a = node.attrs
    return Conv2d(p["weight"], p.get("bias"), pair(a.get("stride", 1)), same_pads(a), a.get("groups", 1),
                  a.get("fused_relu", False), a.get("fused_maxpool"), "bits_output" in a)


def _conv2d_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    a = node.attrs
    return torch_functional().conv2d(xs[0], p["weight"], p.get("bias"), a.get("stride", 1), same_pads(a), 1,
                                     a.get("groups", 1))


def _conv2d_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    ops, a = ov_ops(), node.attrs
    w = np.ascontiguousarray(p["weight"].transpose(0, 3, 1, 2), np.float32)
    stride, pads, groups = list(pair(a.get("stride", 1))), list(same_pads(a)), a.get("groups", 1)
    if groups == 1:
        y = ops.convolution(xs[0], ops.constant(w), stride, pads, pads, [1, 1])
    else:
        wg = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
        y = ops.group_convolution(xs[0], ops.constant(wg), stride, pads, pads, [1, 1])
    return y if "bias" not in p else ops.add(y, ops.constant(per_channel(p["bias"], 4)))


# -- binary_conv2d ----------------------------------------------------------------------------------------
def _binary_conv2d_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "bits")
    c = ctx.channels(t, "in_channels")
    o = ctx.int_("out_channels")
    ctx.choice("pad_value", (0, 1), 0)
    kind = ctx.choice("output", ("float", "bits"), "float")
    kh, kw, h, w = conv_geometry(ctx, t, any_stride=False)
    return TensorType(kind, 4, o, h, w), scaled_params((o, kh, kw, words(c)), o)


def _binary_conv2d_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    return BinaryConv2d(p["weight"], p["scale"], p["bias"], t_in.channels or 0, node.attrs, p.get("slope"))


def _scaled_conv_torch(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:
    """``scale * conv(x, ±1 weights) + bias`` (and its sign for a bits output); +1 padding where asked."""
    F, a, x = torch_functional(), node.attrs, xs[0]
    ph, pw = same_pads(a)
    if node.op == "binary_conv2d" and a.get("pad_value", 0) == 1 and (ph or pw):
        x, ph, pw = F.pad(x, (pw, pw, ph, ph), value=1.0), 0, 0
    y = F.conv2d(x, p["weight"], None, a.get("stride", 1), (ph, pw))
    y = y * p["scale"].view(1, -1, 1, 1) + p["bias"].view(1, -1, 1, 1)
    return torch_sign(y) if a.get("output", "float") == "bits" else y


def _binary_conv2d_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    import openvino as ov

    c_in = t_in.channels or 0
    if c_in % 8:
        raise Unsupported(f"{node.name}: OpenVINO's BinaryConvolution sums wrongly unless input channels "
                          f"are a multiple of 8 (this layer has {c_in})")
    ops, a = ov_ops(), node.attrs
    plus = signs_oihw(p["weight"], c_in) > 0  # OpenVINO's bit 1 is +1
    weights = ov.Tensor(ov.Type.u1, ov.Shape(list(plus.shape)))
    weights.data[:] = np.packbits(plus.ravel(), bitorder="little")
    pads = list(same_pads(a))
    acc = ops.binary_convolution(binarize(xs[0]), ov.op.Constant(weights, shared_memory=False),
                                 list(pair(a.get("stride", 1))), pads, pads, [1, 1], "xnor-popcount",
                                 float(a.get("pad_value", 0)))
    return affine(acc.output(0), p["scale"], p["bias"])  # "bits" output: its signs, binarized by the reader


# -- bwn_conv2d -------------------------------------------------------------------------------------------
def _bwn_conv2d_schema(ctx: Ctx) -> Result:
    t = ctx.input(0, "float")
    c = ctx.channels(t, "in_channels")
    o = ctx.int_("out_channels")
    kh, kw, h, w = conv_geometry(ctx, t, any_stride=False)
    return TensorType("float", 4, o, h, w), scaled_params((o, kh, kw, words(c)), o)


def _bwn_conv2d_layer(node: Node, p: Params, t_in: TensorType) -> Layer:
    return BwnConv2d(p["weight"], p["scale"], p["bias"], t_in.channels or 0, node.attrs, p.get("slope"))


def _bwn_conv2d_openvino(node: Node, xs: list[Any], p: Params, t_in: TensorType) -> Any:
    """Binary weights on a real input: OpenVINO has no kernel for it, so a float conv of ±1 weights."""
    ops, a = ov_ops(), node.attrs
    pads = list(same_pads(a))
    w = np.ascontiguousarray(signs_oihw(p["weight"], t_in.channels or 0))
    y = ops.convolution(xs[0], ops.constant(w), list(pair(a.get("stride", 1))), pads, pads, [1, 1])
    return affine(y.output(0), p["scale"], p["bias"])


DEFS = [
    OpDef("conv2d", _conv2d_schema, _conv2d_layer, _conv2d_torch, _conv2d_openvino, conv_macs,
          work="float conv"),
    OpDef("binary_conv2d", _binary_conv2d_schema, _binary_conv2d_layer, _scaled_conv_torch,
          _binary_conv2d_openvino, conv_macs, kind="binary", work="binary conv",
          check_values=packed_weight_check("in_channels")),
    OpDef("bwn_conv2d", _bwn_conv2d_schema, _bwn_conv2d_layer, _scaled_conv_torch, _bwn_conv2d_openvino,
          conv_macs, kind="bwn", work="float conv", check_values=packed_weight_check("in_channels")),
]
