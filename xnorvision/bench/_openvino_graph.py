"""The ``openvino-binary`` peer: an .xnv graph as an OpenVINO model, binary convs on its u1 kernel.

OpenVINO's own binarized networks binarize with a 2-level ``FakeQuantize`` (outputs 0 and 1, 1 meaning
+1) and convolve with ``BinaryConvolution`` ("xnor-popcount", u1 weights); everything else stays float.
This module builds the same thing from our graph, one lowering per op (:data:`LOWERINGS`, keyed by op
name, so a future op registry can take each entry over). A ``bits`` tensor is kept as the float tensor
whose signs it holds, and binarized right before the layer that reads it, as in OpenVINO's own models:
its u1 kernel takes only a FakeQuantize's output (a max pool between them fails to compile, a second
FakeQuantize after the pool crashes it), and a max pool before the sign equals one after it.

What the u1 path needs, found by testing OpenVINO 2026.4's CPU plugin: weights packed least significant
bit first in [O, C, kh, kw] order, bit 1 = +1 (ours: bit 1 = -1); ``pad_value`` 0 pads with zeros and
1 with +1 (our two paddings); input channels a multiple of 8 (other counts give wrong sums, so they are
refused); and the ``FakeQuantize`` maps ``x <= threshold`` to 0, so the threshold sits just below zero
to send 0 to +1 as our ``sign`` does. The model takes NCHW float input, so the layout change is not timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xnorvision.bench._torch_graph import unpack_signs
from xnorvision.runtime._fold import bn_affine
from xnorvision.runtime._format import XnvFile
from xnorvision.runtime._schema import Node, TensorType

#: the binarization threshold: the largest float32 below zero that survives flushing denormals
_THRESHOLD = -float(np.finfo(np.float32).tiny)


class Unsupported(Exception):
    """The graph uses something the OpenVINO lowering cannot reproduce exactly."""


Lowering = Callable[[Node, list[Any], dict[str, np.ndarray], TensorType], Any]


def build_openvino_model(model: XnvFile, batch: int, height: int, width: int) -> Any:
    """Return an ``openvino.Model`` computing ``model``'s graph outputs from an NCHW float32 input."""
    import openvino.opset8 as ops

    x = ops.parameter([batch, model.input_spec["channels"], height, width], np.float32, name="input")
    env: dict[str, Any] = {"input": x.output(0)}
    for node in model.nodes:
        params = {p: model.tensors[f"{node.name}.{p}"] for p in model.params[node.name]
                  if f"{node.name}.{p}" in model.tensors}
        lower = LOWERINGS.get(node.op)
        if lower is None:
            raise Unsupported(f"no OpenVINO lowering for op {node.op!r}")
        t_in = model.types[node.inputs[0]]
        env[node.name] = _output(lower(node, [env[i] for i in node.inputs], params, t_in))
    import openvino as ov

    outputs = [_signs(env[o]) if model.types[o].kind == "bits" else env[o]
               for o in model.outputs]  # a bits output as ±1, as the float twin gives it
    return ov.Model(outputs, [x], "xnorvision")


def _output(node: Any) -> Any:
    return node.output(0) if hasattr(node, "output") else node


def _ops() -> Any:
    import openvino.opset8 as ops

    return ops


def _per_channel(v: np.ndarray, rank: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast over NCHW (rank 4) or NC (rank 2)."""
    return np.asarray(v, np.float32).reshape((1, -1, 1, 1) if rank == 4 else (1, -1))


def _affine(x: Any, scale: np.ndarray, bias: np.ndarray | None) -> Any:
    ops, rank = _ops(), x.get_partial_shape().rank.get_length()
    y = ops.multiply(x, ops.constant(_per_channel(scale, rank)))
    return y if bias is None else ops.add(y, ops.constant(_per_channel(bias, rank)))


def binarize(x: Any) -> Any:
    """``sign`` as OpenVINO's binarized models write it: a 2-level FakeQuantize, < 0 to 0, >= 0 to 1.

    Only a BinaryConvolution may read it: elsewhere OpenVINO computes the FakeQuantize's general formula,
    which divides by its zero-width input range (NaN); other readers take :func:`_signs`.
    """
    ops, rank = _ops(), x.get_partial_shape().rank.get_length()
    t = ops.constant(np.full([1] * rank, _THRESHOLD, np.float32))
    return ops.fake_quantize(x, t, t, ops.constant(np.zeros([1] * rank, np.float32)),
                             ops.constant(np.ones([1] * rank, np.float32)), 2)


def _signs(x: Any) -> Any:
    """``sign`` as ±1 floats (1 where ``x >= 0``), for a binary linear layer and a bits graph output."""
    ops = _ops()
    return ops.select(ops.greater_equal(x, np.float32(0)), np.float32(1), np.float32(-1)).output(0)


def _pads(attrs: dict[str, Any]) -> list[int]:
    kh, kw = _pair(attrs["kernel"])
    return [(kh - 1) // 2, (kw - 1) // 2] if attrs.get("padding", "valid") == "same" else [0, 0]


def _pair(v: int | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _signs_oihw(weight: np.ndarray, c_in: int) -> np.ndarray:
    """Packed [O, kh, kw, words] -> float ±1 [O, C, kh, kw]."""
    return unpack_signs(weight, c_in).transpose(0, 3, 1, 2)


def _conv2d(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    ops, a = _ops(), node.attrs
    w = np.ascontiguousarray(p["weight"].transpose(0, 3, 1, 2), np.float32)
    stride, pads, groups = list(_pair(a.get("stride", 1))), _pads(a), a.get("groups", 1)
    if groups == 1:
        y = ops.convolution(xs[0], ops.constant(w), stride, pads, pads, [1, 1])
    else:
        wg = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
        y = ops.group_convolution(xs[0], ops.constant(wg), stride, pads, pads, [1, 1])
    return y if "bias" not in p else ops.add(y, ops.constant(_per_channel(p["bias"], 4)))


def _binary_conv2d(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    import openvino as ov

    c_in = t_in.channels or 0
    if c_in % 8:
        raise Unsupported(f"{node.name}: OpenVINO's BinaryConvolution sums wrongly unless input channels "
                          f"are a multiple of 8 (this layer has {c_in})")
    ops, a = _ops(), node.attrs
    plus = _signs_oihw(p["weight"], c_in) > 0  # OpenVINO's bit 1 is +1
    weights = ov.Tensor(ov.Type.u1, ov.Shape(list(plus.shape)))
    weights.data[:] = np.packbits(plus.ravel(), bitorder="little")
    pads = _pads(a)
    acc = ops.binary_convolution(binarize(xs[0]), ov.op.Constant(weights, shared_memory=False),
                                 list(_pair(a.get("stride", 1))), pads, pads, [1, 1], "xnor-popcount",
                                 float(a.get("pad_value", 0)))
    return _affine(acc.output(0), p["scale"], p["bias"])  # "bits" output: its signs, binarized by the reader


def _bwn_conv2d(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    """Binary weights on a real input: OpenVINO has no kernel for it, so a float conv of ±1 weights."""
    ops, a = _ops(), node.attrs
    pads = _pads(a)
    w = np.ascontiguousarray(_signs_oihw(p["weight"], t_in.channels or 0))
    y = ops.convolution(xs[0], ops.constant(w),
                        list(_pair(a.get("stride", 1))), pads, pads, [1, 1])
    return _affine(y.output(0), p["scale"], p["bias"])


def _binary_linear(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    ops = _ops()
    w = ops.constant(unpack_signs(p["weight"], t_in.channels or 0))
    y = ops.matmul(_signs(xs[0]), w, False, True)
    return _affine(y.output(0), p["scale"], p["bias"])


def _linear(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    ops = _ops()
    y = ops.matmul(xs[0], ops.constant(np.asarray(p["weight"], np.float32)), False, True)
    return y if "bias" not in p else ops.add(y, ops.constant(_per_channel(p["bias"], 2)))


def _batch_norm(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    a, b = bn_affine(p, node.attrs.get("eps", 1e-5))
    return _affine(xs[0], a, b)


def _pool(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    ops, a = _ops(), node.attrs
    k = list(_pair(a["kernel"]))
    stride, pad = list(_pair(a.get("stride", a["kernel"]))), list(_pair(a.get("padding", 0)))
    if node.op == "avgpool2d":
        return ops.avg_pool(xs[0], stride, pad, pad, k, True, "floor")
    return ops.max_pool(xs[0], stride, [1, 1], pad, pad, k, "floor")  # on bits: before the sign


def _upsample(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    import openvino.opset11 as ops11

    s = float(node.attrs["scale"])
    return ops11.interpolate(xs[0], np.array([s, s], np.float32), "nearest", "scales",
                             coordinate_transformation_mode="asymmetric", nearest_mode="floor",
                             axes=np.array([2, 3], np.int64))


def _flatten(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    """Our flatten reads NHWC order: transpose back before reshaping."""
    ops = _ops()
    nhwc = ops.transpose(xs[0], ops.constant(np.array([0, 2, 3, 1], np.int64)))
    return ops.reshape(nhwc, ops.constant(np.array([0, -1], np.int64)), True)


def _simple(node: Node, xs: list[Any], p: dict[str, np.ndarray], t_in: TensorType) -> Any:
    ops, a, x = _ops(), node.attrs, xs[0]
    if node.op == "prelu":
        return ops.prelu(x, ops.constant(np.asarray(p["weight"], np.float32)))
    if node.op == "hardtanh":
        return ops.clamp(x, float(a.get("min_val", -1.0)), float(a.get("max_val", 1.0)))
    if node.op == "global_avgpool":
        return ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), False)
    if node.op == "concat":
        return ops.concat(xs, 1)
    if node.op == "add":
        return ops.add(xs[0], xs[1])
    if node.op == "softmax":
        return ops.softmax(x, 1)  # the channel axis, last in NHWC
    if node.op == "sign":
        return x  # binarized by the binary layer that reads it
    return {"relu": ops.relu, "sigmoid": ops.sigmoid}[node.op](x)


LOWERINGS: dict[str, Lowering] = {
    "conv2d": _conv2d, "binary_conv2d": _binary_conv2d, "bwn_conv2d": _bwn_conv2d,
    "binary_linear": _binary_linear, "linear": _linear, "batch_norm": _batch_norm,
    "maxpool2d": _pool, "avgpool2d": _pool, "upsample_nearest": _upsample, "flatten": _flatten,
    **{op: _simple for op in ("prelu", "hardtanh", "global_avgpool", "concat", "add", "softmax", "relu",
                              "sigmoid", "sign")},
}
