"""The pieces that lowering a torch model to .xnv shares: the emitter that writes xnv nodes, and helpers.

:mod:`_fx_lower` (trace, fold, drive) and :mod:`_fx_ops` (the table from torch.fx nodes to xnv ops) both
import this module; neither imports the other's internals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from xnorvision.errors import XnorvisionError
from xnorvision.train._layers import BinaryConv2d, BinaryLinear, SignActivation

__all__ = ["BINARY", "Emitter", "ExportError", "RuntimeBatchNorm", "bn_affine", "module_of", "pack_signs",
           "to_numpy"]

BINARY = (BinaryConv2d, BinaryLinear)


class ExportError(XnorvisionError):
    """The model uses something the .xnv format cannot express; the message names the node."""


def pack_signs(negative: np.ndarray) -> np.ndarray:
    """Pack booleans (True = -1) along the last axis into uint64 words: bit ``c % 64`` of word ``c // 64``."""
    c = negative.shape[-1]
    words = math.ceil(c / 64)
    padded = np.zeros((*negative.shape[:-1], words * 64), np.uint8)
    padded[..., :c] = negative
    return np.packbits(padded, axis=-1, bitorder="little").view("<u8").astype(np.uint64)


def module_of(gm: torch.fx.GraphModule, node: torch.fx.Node) -> nn.Module | None:
    return gm.get_submodule(str(node.target)) if node.op == "call_module" else None


def bn_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch norm as ``x * a + b`` (float64, rounded once when folded)."""
    a = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)  # type: ignore[operator]
    return a, bn.bias.double() - bn.running_mean.double() * a  # type: ignore[operator]


class RuntimeBatchNorm(nn.Module):
    """A batch norm with no layer to fold into, computed as the runtime does: ``x * a + b`` in float32.

    ``a``, ``b`` are rounded once from float64 (as the runtime's loader folds them), so a ``sign`` that
    follows makes the same decision as the runtime even for values within an ulp of zero.
    """

    def __init__(self, bn: nn.Module) -> None:
        super().__init__()
        self.bn = bn
        a, b = bn_affine(bn)
        self.register_buffer("a", a.float())
        self.register_buffer("b", b.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.a.view(shape) + self.b.view(shape)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()


def _int(v: Any, what: str, name: str) -> int:
    vals = {v} if isinstance(v, int) else set(v)
    if len(vals) != 1:
        raise ExportError(f"node {name!r}: non-square {what} {v} is not supported")
    return int(vals.pop())


class Emitter:
    """Walks the twin's nodes and appends xnv nodes; ``env`` maps fx nodes to (tensor name, kind)."""

    def __init__(self, gm: torch.fx.GraphModule) -> None:
        self.gm = gm
        self.nodes: list[dict[str, Any]] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.env: dict[torch.fx.Node, str] = {}
        self.kind: dict[str, str] = {}  # tensor name -> "float" | "bits"
        self.rank: dict[str, int] = {}
        self.flat_from: dict[str, tuple[int, int, int]] = {}  # flattened tensor -> its NCHW (C, H, W)
        self.signs: dict[str, str] = {}
        self.sources: dict[str, str] = {"input": next(iter(gm.graph.nodes)).name}  # xnv name -> fx name

    # -- helpers -----------------------------------------------------------------------------------------
    def add(self, name: str, op: str, inputs: list[str], attrs: dict[str, Any] | None = None, *,
            kind: str = "float", rank: int | None = None, **params: np.ndarray) -> str:
        source = name
        if name.startswith("_"):  # fx names children of a Sequential "_0", "_1": say what they are
            name = f"{op}{name}"
        self.sources[name] = source
        self.nodes.append({"name": name, "op": op, "inputs": inputs, "attrs": attrs or {}})
        self.tensors.update({f"{name}.{k}": v for k, v in params.items()})
        self.kind[name] = kind
        self.rank[name] = rank if rank is not None else self.rank[inputs[0]]
        return name

    def arg(self, node: torch.fx.Node, i: int = 0) -> str:
        a = node.args[i]
        if not isinstance(a, torch.fx.Node):
            raise ExportError(f"node {node.name!r}: argument {i} is not a tensor")
        return self.env[a]

    def as_float(self, node: torch.fx.Node, x: str) -> str:
        if self.kind[x] != "float":
            raise ExportError(f"node {node.name!r}: needs real values but its input {x!r} is packed bits")
        return x

    def as_bits(self, x: str) -> str:
        if self.kind[x] == "bits":
            return x
        if x not in self.signs:
            self.signs[x] = self.add(f"{x}_sign", "sign", [x], kind="bits")
            self.sources[self.signs[x]] = self.sources.get(x, x)  # its values: the signs of x's
        return self.signs[x]

    def shape(self, node: torch.fx.Node) -> tuple[int, ...]:
        return tuple(node.meta["tensor_meta"].shape)

    def feeds_only_binary(self, node: torch.fx.Node) -> bool:
        """Every reader takes bits: an XNOR layer, a sign, or a max pool whose readers all do."""
        if not node.users:
            return False
        for u in node.users:
            m = module_of(self.gm, u)
            if isinstance(m, BINARY) and m.mode == "xnor" or isinstance(m, SignActivation):
                continue
            if (isinstance(m, nn.MaxPool2d) or u.target is F.max_pool2d) and self.feeds_only_binary(u):
                continue
            return False
        return True

    # -- modules -----------------------------------------------------------------------------------------
    def conv(self, node: torch.fx.Node, m: nn.Conv2d) -> str:
        name = node.name
        kh, kw = m.kernel_size
        pad = m.padding
        if isinstance(pad, str):
            padding = pad
        elif tuple(pad) == (0, 0):
            padding = "valid"
        elif kh % 2 and kw % 2 and tuple(pad) == ((kh - 1) // 2, (kw - 1) // 2):
            padding = "same"
        else:
            raise ExportError(f"node {name!r}: padding {pad} is neither 0 nor (k - 1) // 2")
        if m.dilation != (1, 1) or m.padding_mode != "zeros":
            raise ExportError(f"node {name!r}: dilated or non-zero-padded convolutions are not supported")
        attrs = {"kernel": [kh, kw], "stride": _int(m.stride, "stride", name), "padding": padding,
                 "in_channels": m.in_channels, "out_channels": m.out_channels}
        x = self.arg(node)
        if isinstance(m, BinaryConv2d):
            scale, bias = m.output_transform()
            w = pack_signs(to_numpy(m.weight).transpose(0, 2, 3, 1) < 0)
            params = {"weight": w, "scale": to_numpy(scale), "bias": to_numpy(bias)}
            if m.mode == "bwn":
                return self.add(name, "bwn_conv2d", [self.as_float(node, x)], attrs, **params)
            out = "bits" if self.feeds_only_binary(node) else "float"
            attrs |= {"pad_value": m.pad_value, "output": out}
            return self.add(name, "binary_conv2d", [self.as_bits(x)], attrs, kind=out, **params)
        if m.groups not in (1, m.in_channels) or (m.groups != 1 and m.out_channels != m.in_channels):
            raise ExportError(f"node {name!r}: grouped convolutions other than depthwise are not supported")
        params = {"weight": to_numpy(m.weight).transpose(0, 2, 3, 1)}
        if m.bias is not None:
            params["bias"] = to_numpy(m.bias)
        return self.add(name, "conv2d", [self.as_float(node, x)], attrs | {"groups": m.groups}, **params)

    def linear(self, node: torch.fx.Node, m: nn.Linear) -> str:
        name, x = node.name, self.arg(node)
        w = to_numpy(m.weight)
        if x in self.flat_from:  # torch flattened NCHW, the runtime NHWC: permute the columns
            c, h, wd = self.flat_from[x]
            w = w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
        attrs = {"in_features": m.in_features, "out_features": m.out_features}
        if isinstance(m, BinaryLinear):
            scale, bias = (to_numpy(t) for t in m.output_transform())
            if m.mode == "xnor":
                return self.add(name, "binary_linear", [self.as_bits(x)], attrs,
                                weight=pack_signs(w < 0), scale=scale, bias=bias)
            w = np.where(w < 0, -1.0, 1.0).astype(np.float32) * scale[:, None]  # no bwn_linear op
            return self.add(name, "linear", [self.as_float(node, x)], attrs, weight=w, bias=bias)
        params = {"weight": w} | ({"bias": to_numpy(m.bias)} if m.bias is not None else {})
        return self.add(name, "linear", [self.as_float(node, x)], attrs, **params)

    def pool(self, node: torch.fx.Node, kind: str, kernel: Any, stride: Any, padding: Any,
             ceil_mode: bool, count_include_pad: bool = False) -> str:
        name, x = node.name, self.arg(node)
        stride = kernel if stride is None or stride == [] else stride
        attrs = {"kernel": _int(kernel, "kernel", name), "stride": _int(stride, "stride", name),
                 "padding": _int(padding, "padding", name)}
        if ceil_mode:
            raise ExportError(f"node {name!r}: ceil_mode pooling is not supported")
        if kind == "avgpool2d":
            if attrs["padding"] and count_include_pad:
                raise ExportError(f"node {name!r}: avg pool must use count_include_pad=False when padded")
            x = self.as_float(node, x)
        return self.add(name, kind, [x], attrs, kind=self.kind[x])

    def global_pool(self, node: torch.fx.Node) -> str:
        return self.add(node.name, "global_avgpool", [self.as_float(node, self.arg(node))], rank=2)

    def flatten(self, node: torch.fx.Node) -> str:
        x = self.as_float(node, self.arg(node))
        if self.rank[x] == 2:
            return x
        _, c, h, w = self.arg_shape(node)
        name = self.add(node.name, "flatten", [x], rank=2)
        if h * w > 1:
            self.flat_from[name] = (c, h, w)
        return name

    def arg_shape(self, node: torch.fx.Node) -> tuple[int, ...]:
        a = node.args[0]
        assert isinstance(a, torch.fx.Node)
        return self.shape(a)

    def simple(self, node: torch.fx.Node, op: str, attrs: dict[str, Any] | None = None,
               **params: np.ndarray) -> str:
        return self.add(node.name, op, [self.as_float(node, self.arg(node))], attrs, **params)

    def channel_axis(self, node: torch.fx.Node, dim: int) -> int:
        rank = len(self.shape(node))
        if dim % rank != 1:
            raise ExportError(f"node {node.name!r}: only the channel axis (dim 1) is supported, got {dim}")
        return -1
