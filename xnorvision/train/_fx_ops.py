"""The table from torch.fx nodes (modules, functions, tensor methods) to .xnv ops, used by ``lower``."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from xnorvision.train._fx_emit import Emitter, ExportError, RuntimeBatchNorm, module_of, to_numpy
from xnorvision.train._layers import BinaryConv2d, BinaryLinear, SignActivation

__all__ = ["emit"]

_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout2d)


def _kw(node: torch.fx.Node, i: int, key: str, default: Any) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(key, default)


def _module(e: Emitter, node: torch.fx.Node, m: nn.Module) -> str:
    x = e.arg(node)
    if isinstance(m, (nn.Conv2d, BinaryConv2d)):
        return e.conv(node, m)
    if isinstance(m, (nn.Linear, BinaryLinear)):
        return e.linear(node, m)
    if isinstance(m, SignActivation):
        return e.as_bits(x)
    if isinstance(m, _IDENTITY):
        return x
    if isinstance(m, RuntimeBatchNorm):
        m = m.bn
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if m.running_mean is None or m.running_var is None:
            raise ExportError(f"node {node.name!r}: batch norm without running statistics")
        ones = torch.ones(m.num_features)
        return e.simple(node, "batch_norm", {"eps": float(m.eps)},
                        weight=to_numpy(m.weight if m.affine else ones),
                        bias=to_numpy(m.bias if m.affine else 0 * ones),
                        running_mean=to_numpy(m.running_mean), running_var=to_numpy(m.running_var))
    if isinstance(m, nn.MaxPool2d):
        if m.dilation not in (1, (1, 1)):
            raise ExportError(f"node {node.name!r}: dilated max pool is not supported")
        return e.pool(node, "maxpool2d", m.kernel_size, m.stride, m.padding, m.ceil_mode)
    if isinstance(m, nn.AvgPool2d):
        return e.pool(node, "avgpool2d", m.kernel_size, m.stride, m.padding, m.ceil_mode,
                      m.count_include_pad)
    if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1)):
        return e.global_pool(node)
    if isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
        return e.flatten(node)
    if isinstance(m, nn.ReLU):
        return e.simple(node, "relu")
    if isinstance(m, nn.Sigmoid):
        return e.simple(node, "sigmoid")
    if isinstance(m, nn.Hardtanh) and (m.min_val, m.max_val) == (-1.0, 1.0):
        return e.simple(node, "hardtanh")
    if isinstance(m, nn.PReLU):
        c = e.shape(node)[1]
        return e.simple(node, "prelu", weight=to_numpy(m.weight.expand(c)))
    if isinstance(m, nn.Upsample) and m.mode == "nearest" and m.size is None:
        return _upsample(e, node, m.scale_factor)
    if isinstance(m, nn.Softmax):
        return e.simple(node, "softmax", {"axis": e.channel_axis(node, m.dim if m.dim is not None else 1)})
    raise ExportError(f"node {node.name!r}: module {type(m).__name__} has no .xnv op")


def _upsample(e: Emitter, node: torch.fx.Node, scale: Any) -> str:
    s = scale[0] if isinstance(scale, (tuple, list)) and len(set(scale)) == 1 else scale
    if not isinstance(s, (int, float)) or int(s) != s or s < 1:
        raise ExportError(f"node {node.name!r}: upsampling needs one integer scale factor, got {scale}")
    return e.simple(node, "upsample_nearest", {"scale": int(s)})


def _binary(e: Emitter, node: torch.fx.Node, op: str) -> str:
    a, b = node.args[0], node.args[1]
    tensors = isinstance(a, torch.fx.Node) and isinstance(b, torch.fx.Node)
    if not tensors or node.kwargs.get("alpha", 1) != 1:
        raise ExportError(f"node {node.name!r}: {op} of a tensor and a constant is not supported")
    return e.add(node.name, op, [e.as_float(node, e.env[a]), e.as_float(node, e.env[b])])


def _cat(e: Emitter, node: torch.fx.Node) -> str:
    tensors = node.args[0]
    dim = _kw(node, 1, "dim", 0)
    assert isinstance(tensors, (list, tuple))
    inputs = [e.as_float(node, e.env[t]) for t in tensors if isinstance(t, torch.fx.Node)]
    return e.add(node.name, "concat", inputs, {"axis": e.channel_axis(node, dim)})


def _is_global_mean(node: torch.fx.Node) -> bool:
    dims = _kw(node, 1, "dim", None)
    keep = _kw(node, 2, "keepdim", False)
    rank = len(node.meta["tensor_meta"].shape) + (0 if keep else len(dims or ()))
    return rank == 4 and not keep and sorted(d % 4 for d in (dims or ())) == [2, 3]


def _reshape_is_flatten(e: Emitter, node: torch.fx.Node) -> bool:
    out, src = e.shape(node), e.arg_shape(node)
    return len(out) == 2 and out[0] == src[0]


_FUNCS: dict[Any, Callable[[Emitter, torch.fx.Node], str]] = {
    F.relu: lambda e, n: e.simple(n, "relu"),
    torch.relu: lambda e, n: e.simple(n, "relu"),
    torch.sigmoid: lambda e, n: e.simple(n, "sigmoid"),
    F.sigmoid: lambda e, n: e.simple(n, "sigmoid"),
    F.hardtanh: lambda e, n: e.simple(n, "hardtanh"),
    operator.add: lambda e, n: _binary(e, n, "add"),
    torch.add: lambda e, n: _binary(e, n, "add"),
    operator.iadd: lambda e, n: _binary(e, n, "add"),
    torch.cat: _cat,
    torch.flatten: lambda e, n: e.flatten(n),
    F.max_pool2d: lambda e, n: e.pool(n, "maxpool2d", _kw(n, 1, "kernel_size", None),
                                      _kw(n, 2, "stride", None), _kw(n, 3, "padding", 0),
                                      _kw(n, 5, "ceil_mode", False)),
    F.avg_pool2d: lambda e, n: e.pool(n, "avgpool2d", _kw(n, 1, "kernel_size", None),
                                      _kw(n, 2, "stride", None), _kw(n, 3, "padding", 0),
                                      _kw(n, 4, "ceil_mode", False), _kw(n, 5, "count_include_pad", True)),
    F.adaptive_avg_pool2d: lambda e, n: e.global_pool(n),
    F.interpolate: lambda e, n: _upsample(e, n, _kw(n, 2, "scale_factor", None)),
    F.softmax: lambda e, n: e.simple(n, "softmax", {"axis": e.channel_axis(n, _kw(n, 1, "dim", 1))}),
    torch.softmax: lambda e, n: e.simple(n, "softmax", {"axis": e.channel_axis(n, _kw(n, 1, "dim", 1))}),
}

_METHODS: dict[str, Callable[[Emitter, torch.fx.Node], str]] = {
    "relu": _FUNCS[F.relu], "sigmoid": _FUNCS[torch.sigmoid], "add": _FUNCS[operator.add],
    "flatten": _FUNCS[torch.flatten], "softmax": _FUNCS[F.softmax],
}


def _function(e: Emitter, node: torch.fx.Node) -> str:
    target = node.target
    if node.op == "call_method" and target in ("view", "reshape") and _reshape_is_flatten(e, node):
        return e.flatten(node)
    if target in (torch.mean, "mean") and _is_global_mean(node):
        return e.global_pool(node)
    if target is F.adaptive_avg_pool2d and _kw(node, 1, "output_size", None) not in (1, (1, 1), [1, 1]):
        raise ExportError(f"node {node.name!r}: only adaptive average pooling to 1x1 is supported")
    if target is F.interpolate and _kw(node, 3, "mode", "nearest") != "nearest":
        raise ExportError(f"node {node.name!r}: only nearest-neighbour upsampling is supported")
    table = _METHODS if node.op == "call_method" else _FUNCS
    fn = table.get(target)  # type: ignore[call-overload]
    if fn is None:
        what = getattr(target, "__name__", target)
        raise ExportError(f"node {node.name!r}: {node.op} {what} has no .xnv op")
    return fn(e, node)


def emit(e: Emitter) -> list[str]:
    """Emit every node of ``e.gm``; return the graph's output tensor names."""
    for node in e.gm.graph.nodes:
        if node.op == "placeholder":
            if e.env:
                raise ExportError("the model must take exactly one input tensor")
            e.env[node] = "input"
            e.kind["input"], e.rank["input"] = "float", 4
        elif node.op == "call_module":
            e.env[node] = _module(e, node, module_of(e.gm, node))  # type: ignore[arg-type]
        elif node.op in ("call_function", "call_method"):
            if node.op == "call_method" and node.target == "size" or node.target is getattr:
                continue  # shape arithmetic feeding a view(); nothing at run time
            e.env[node] = _function(e, node)
        elif node.op == "output":
            return _outputs(e, node.args[0])
        else:
            raise ExportError(f"node {node.name!r}: {node.op} (a parameter used directly) is not supported")
    raise ExportError("the traced graph has no output")


def _outputs(e: Emitter, out: Any) -> list[str]:
    if isinstance(out, torch.fx.Node):
        return [e.env[out]]
    if isinstance(out, dict):
        return [e.env[v] for v in out.values()]
    if isinstance(out, (tuple, list)):
        return [e.env[v] for v in out]
    raise ExportError(f"unsupported model output {type(out).__name__}")
