"""Lower a torch model to an .xnv graph with torch.fx: trace, fold, then map every node to an xnv op.

Two passes over one traced graph. :func:`fuse_for_runtime` folds each batch norm into the layer before it
(into a binary layer's ``scale``/``bias``, or a float conv/linear's weights) and returns the traced module,
the *torch twin* of the file: in eval mode it computes what the runtime computes, value for value on the
binary paths. :func:`lower` then walks the twin and emits nodes and tensors, choosing ``output: "bits"``
for a binary conv whose every reader is binary (an XNOR layer, a sign, or a max pool that feeds only those).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from xnorvision.errors import XnorvisionError
from xnorvision.train._layers import BinaryConv2d, BinaryLinear, SignActivation

__all__ = ["Lowered", "fuse_for_runtime", "lower", "pack_signs"]

_BINARY = (BinaryConv2d, BinaryLinear)
_LEAVES = (BinaryConv2d, BinaryLinear, SignActivation)


class ExportError(XnorvisionError):
    """The model uses something the .xnv format cannot express; the message names the node."""


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, qualname)


def pack_signs(negative: np.ndarray) -> np.ndarray:
    """Pack booleans (True = -1) along the last axis into uint64 words: bit ``c % 64`` of word ``c // 64``."""
    c = negative.shape[-1]
    words = math.ceil(c / 64)
    padded = np.zeros((*negative.shape[:-1], words * 64), np.uint8)
    padded[..., :c] = negative
    return np.packbits(padded, axis=-1, bitorder="little").view("<u8").astype(np.uint64)


def _mod(gm: torch.fx.GraphModule, node: torch.fx.Node) -> nn.Module | None:
    return gm.get_submodule(str(node.target)) if node.op == "call_module" else None


def _bn_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch norm as ``x * a + b`` (float64, rounded once when folded)."""
    a = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)  # type: ignore[operator]
    return a, bn.bias.double() - bn.running_mean.double() * a  # type: ignore[operator]


def _fold_into(layer: nn.Module, bn: nn.Module) -> None:
    a, b = _bn_affine(bn)
    if isinstance(layer, _BINARY):
        scale, bias = layer.output_transform()
        layer.out_scale = (scale.double() * a).float()
        layer.out_bias = (bias.double() * a + b).float()
        return
    w = layer.weight.detach().double()
    bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros_like(a)
    layer.weight = nn.Parameter((w * a.view(-1, *[1] * (w.dim() - 1))).float())
    layer.bias = nn.Parameter((bias * a + b).float())


def _replace_module(gm: torch.fx.GraphModule, target: str, new: nn.Module) -> None:
    parent, _, name = target.rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, name, new)


def _foldable(layer: nn.Module | None) -> bool:
    if isinstance(layer, _BINARY):
        return True
    if isinstance(layer, nn.Conv2d):
        return layer.groups == 1 or layer.groups == layer.out_channels
    return isinstance(layer, nn.Linear)


class RuntimeBatchNorm(nn.Module):
    """A batch norm with no layer to fold into, computed as the runtime does: ``x * a + b`` in float32.

    ``a``, ``b`` are rounded once from float64 (as the runtime's loader folds them), so a ``sign`` that
    follows makes the same decision as the runtime even for values within an ulp of zero.
    """

    def __init__(self, bn: nn.Module) -> None:
        super().__init__()
        self.bn = bn
        a, b = _bn_affine(bn)
        self.register_buffer("a", a.float())
        self.register_buffer("b", b.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.a.view(shape) + self.b.view(shape)


def fuse_for_runtime(model: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """A traced eval-mode copy of ``model`` with batch norms folded, shapes recorded in ``node.meta``."""
    model = copy.deepcopy(model).eval().cpu()
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # fx raises many types for untraceable Python
        raise ExportError(f"torch.fx cannot trace the model: {exc}") from None
    gm = torch.fx.GraphModule(model, graph)
    for node in list(gm.graph.nodes):
        bn = _mod(gm, node)
        if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)) or not bn.track_running_stats:
            continue
        prev = node.args[0]
        if not isinstance(prev, torch.fx.Node) or len(prev.users) != 1 or not _foldable(_mod(gm, prev)):
            _replace_module(gm, str(node.target), RuntimeBatchNorm(bn))
            continue
        _fold_into(_mod(gm, prev), bn)  # type: ignore[arg-type]
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    except Exception as exc:
        raise ExportError(f"the model fails on a {tuple(example.shape)} example input: {exc}") from None
    return gm


@dataclass
class Lowered:
    """An .xnv graph and its tensors, plus the twin it was read from."""

    graph: dict[str, Any]
    tensors: dict[str, np.ndarray]
    twin: torch.fx.GraphModule
    bits: set[str] = field(default_factory=set)  # nodes whose output is packed bits
    sources: dict[str, str] = field(default_factory=dict)  # xnv node -> the twin's fx node it came from


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()


def _int(v: Any, what: str, name: str) -> int:
    vals = {v} if isinstance(v, int) else set(v)
    if len(vals) != 1:
        raise ExportError(f"node {name!r}: non-square {what} {v} is not supported")
    return int(vals.pop())


class _Emitter:
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
            m = _mod(self.gm, u)
            if isinstance(m, _BINARY) and m.mode == "xnor" or isinstance(m, SignActivation):
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
            w = pack_signs(_np(m.weight).transpose(0, 2, 3, 1) < 0)
            params = {"weight": w, "scale": _np(scale), "bias": _np(bias)}
            if m.mode == "bwn":
                return self.add(name, "bwn_conv2d", [self.as_float(node, x)], attrs, **params)
            out = "bits" if self.feeds_only_binary(node) else "float"
            attrs |= {"pad_value": m.pad_value, "output": out}
            return self.add(name, "binary_conv2d", [self.as_bits(x)], attrs, kind=out, **params)
        if m.groups not in (1, m.in_channels) or (m.groups != 1 and m.out_channels != m.in_channels):
            raise ExportError(f"node {name!r}: grouped convolutions other than depthwise are not supported")
        params = {"weight": _np(m.weight).transpose(0, 2, 3, 1)}
        if m.bias is not None:
            params["bias"] = _np(m.bias)
        return self.add(name, "conv2d", [self.as_float(node, x)], attrs | {"groups": m.groups}, **params)

    def linear(self, node: torch.fx.Node, m: nn.Linear) -> str:
        name, x = node.name, self.arg(node)
        w = _np(m.weight)
        if x in self.flat_from:  # torch flattened NCHW, the runtime NHWC: permute the columns
            c, h, wd = self.flat_from[x]
            w = w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
        attrs = {"in_features": m.in_features, "out_features": m.out_features}
        if isinstance(m, BinaryLinear):
            scale, bias = (_np(t) for t in m.output_transform())
            if m.mode == "xnor":
                return self.add(name, "binary_linear", [self.as_bits(x)], attrs,
                                weight=pack_signs(w < 0), scale=scale, bias=bias)
            w = np.where(w < 0, -1.0, 1.0).astype(np.float32) * scale[:, None]  # no bwn_linear op
            return self.add(name, "linear", [self.as_float(node, x)], attrs, weight=w, bias=bias)
        params = {"weight": w} | ({"bias": _np(m.bias)} if m.bias is not None else {})
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


def lower(model: nn.Module, example: torch.Tensor, output_names: list[str] | None = None) -> Lowered:
    """Trace and fold ``model`` (on ``example``, an NCHW batch) and map it to an .xnv graph.

    ``output_names`` renames the graph outputs (e.g. ``["logits"]``); a model returning a dict gets its keys.
    """
    from xnorvision.train._fx_ops import emit

    twin = fuse_for_runtime(model, example)
    e = _Emitter(twin)
    outputs = emit(e)
    if output_names is None:
        out = next(n for n in twin.graph.nodes if n.op == "output").args[0]
        output_names = list(out) if isinstance(out, dict) else None
    if output_names is not None:
        if len(output_names) != len(outputs):
            raise ExportError(f"{len(output_names)} output names for {len(outputs)} outputs")
        outputs = _rename(e, outputs, output_names)
    graph = {"inputs": ["input"], "outputs": outputs, "nodes": e.nodes}
    return Lowered(graph, e.tensors, twin, {k for k, v in e.kind.items() if v == "bits"}, e.sources)


def _rename(e: _Emitter, outputs: list[str], names: list[str]) -> list[str]:
    taken = {n["name"] for n in e.nodes} - set(outputs)
    if len(set(names)) != len(names) or taken & set(names) or {"input"} & set(names) or "." in "".join(names):
        raise ExportError(f"output names {names} clash with node names or each other")
    mapping = dict(zip(outputs, names, strict=True))
    if "input" in mapping:
        raise ExportError("a graph output cannot be the input itself")
    for n in e.nodes:
        n["inputs"] = [mapping.get(x, x) for x in n["inputs"]]
        n["name"] = mapping.get(n["name"], n["name"])
    renamed = {}
    for key, value in e.tensors.items():
        node, param = key.split(".", 1)
        renamed[f"{mapping.get(node, node)}.{param}"] = value
    e.tensors = renamed
    for old, new in mapping.items():
        e.kind[new] = e.kind.pop(old)
        e.sources[new] = e.sources.pop(old)
    return names
