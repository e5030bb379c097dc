"""The float32 baseline: the same .xnv graph as a torch module (NCHW), binary values as float ±1.

It is what the same network costs when run the usual way, in float, so the speed-up that ``bench model``
reports compares like with like. Each op's part is its record's ``to_torch`` (:mod:`xnorvision.runtime.ops`),
an independent implementation the tests use to check the runtime end to end. torch is imported lazily:
only the benchmark needs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xnorvision.runtime._format import XnvFile
from xnorvision.runtime._schema import Node
from xnorvision.runtime.ops import OPS, unpack_signs


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
                env[node.name] = OPS[node.op].to_torch(node, [env[i] for i in node.inputs], params)
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
