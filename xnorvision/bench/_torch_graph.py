"""The float32 baseline: the same .xnv graph as a torch module (NCHW), binary values as float ±1.

It is what the same network costs when run the usual way, in float, so the speed-up that ``bench model``
reports compares like with like. It also gives an independent implementation of every op, which the
tests use to check the runtime end to end. torch is imported lazily: only the benchmark needs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xnorvision.runtime._format import XnvFile
from xnorvision.runtime._schema import Node


def unpack_signs(words: np.ndarray, n: int) -> np.ndarray:
    """Packed uint64 words (last axis) -> float32 ±1 values (last axis ``n``): bit 1 is -1."""
    bytes_ = words.astype("<u8").view(np.uint8)
    bits = np.unpackbits(bytes_, axis=-1, bitorder="little")[..., :n]
    return (1.0 - 2.0 * bits).astype(np.float32)


def build_torch_module(model: XnvFile) -> Any:
    """Return a ``torch.nn.Module`` computing the graph in float32; input NCHW, outputs a list."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.steps = [(n, _param_tensors(n, model)) for n in model.nodes]
            self._keep = torch.nn.ParameterList(
                [torch.nn.Parameter(t, requires_grad=False) for _, p in self.steps for t in p.values()])

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            env = {"input": x}
            for node, params in self.steps:
                env[node.name] = _run(node, [env[i] for i in node.inputs], params)
            return [env[o] for o in model.outputs]

    return Graph().eval()


def _param_tensors(node: Node, model: XnvFile) -> dict[str, Any]:
    """The node's parameters in torch layout: conv weights OIHW, packed weights unpacked to ±1."""
    import torch

    out: dict[str, Any] = {}
    cin = model.types[node.inputs[0]].channels
    for pname in model.params[node.name]:
        key = f"{node.name}.{pname}"
        if key not in model.tensors:
            continue
        a = model.tensors[key]
        if pname == "weight" and a.dtype == np.uint64:
            a = unpack_signs(a, cin or 0)
        if pname == "weight" and a.ndim == 4:
            a = a.transpose(0, 3, 1, 2)
        out[pname] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return out


def _sign(x: Any) -> Any:
    import torch

    return torch.where(x >= 0, 1.0, -1.0)


def _pads(node: Node) -> tuple[int, int]:
    a = node.attrs
    k = a["kernel"] if isinstance(a["kernel"], list) else [a["kernel"]] * 2
    if a.get("padding", "valid") == "same":
        return (k[0] - 1) // 2, (k[1] - 1) // 2
    return 0, 0


def _pool_args(node: Node) -> tuple[Any, Any, Any]:
    a = node.attrs
    return a["kernel"], a.get("stride", a["kernel"]), a.get("padding", 0)


def _run(node: Node, xs: list[Any], p: dict[str, Any]) -> Any:  # noqa: C901 - one dispatch table
    import torch
    import torch.nn.functional as F

    a, x, op = node.attrs, xs[0], node.op
    if op in ("conv2d", "binary_conv2d", "bwn_conv2d"):
        ph, pw = _pads(node)
        stride = a.get("stride", 1)
        if op == "binary_conv2d" and a.get("pad_value", 0) == 1 and (ph or pw):
            x, ph, pw = F.pad(x, (pw, pw, ph, ph), value=1.0), 0, 0
        if op == "conv2d":
            return F.conv2d(x, p["weight"], p.get("bias"), stride, (ph, pw), 1, a.get("groups", 1))
        y = F.conv2d(x, p["weight"], None, stride, (ph, pw))
        y = y * p["scale"].view(1, -1, 1, 1) + p["bias"].view(1, -1, 1, 1)
        return _sign(y) if a.get("output", "float") == "bits" else y
    if op in ("linear", "binary_linear"):
        y = F.linear(x, p["weight"], p.get("bias") if op == "linear" else None)
        return y if op == "linear" else y * p["scale"] + p["bias"]
    if op == "batch_norm":
        return F.batch_norm(x, p["running_mean"], p["running_var"], p["weight"], p["bias"], False, 0.0,
                            a.get("eps", 1e-5))
    if op == "maxpool2d":
        return F.max_pool2d(x, *_pool_args(node))
    if op == "avgpool2d":
        return F.avg_pool2d(x, *_pool_args(node), count_include_pad=False)
    simple = {
        "sign": lambda: _sign(x), "relu": lambda: F.relu(x), "sigmoid": lambda: torch.sigmoid(x),
        "hardtanh": lambda: F.hardtanh(x, a.get("min_val", -1.0), a.get("max_val", 1.0)),
        "prelu": lambda: F.prelu(x, p["weight"]), "global_avgpool": lambda: x.mean((2, 3)),
        "add": lambda: x + xs[1], "concat": lambda: torch.cat(xs, 1),
        "upsample_nearest": lambda: F.interpolate(x, scale_factor=a["scale"], mode="nearest"),
        "flatten": lambda: x.permute(0, 2, 3, 1).flatten(1), "softmax": lambda: torch.softmax(x, 1),
    }
    return simple[op]()
