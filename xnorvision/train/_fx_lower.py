"""Lower a torch model to an .xnv graph with torch.fx: trace, fold, then map every node to an xnv op.

Two passes over one traced graph. :func:`fuse_for_runtime` folds each batch norm into the layer before it
(into a binary layer's ``scale``/``bias``, or a float conv/linear's weights) and returns the traced module,
the *torch twin* of the file: in eval mode it computes what the runtime computes, value for value on the
binary paths. :func:`lower` then walks the twin and emits nodes and tensors, choosing ``output: "bits"``
for a binary conv whose every reader is binary (an XNOR layer, a sign, or a max pool that feeds only those).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from xnorvision.train._fx_emit import BINARY, Emitter, ExportError, RuntimeBatchNorm, bn_affine, module_of
from xnorvision.train._fx_ops import emit
from xnorvision.train._layers import BinaryConv2d, BinaryLinear, SignActivation

__all__ = ["Lowered", "fuse_for_runtime", "lower"]

_LEAVES = (BinaryConv2d, BinaryLinear, SignActivation)


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, qualname)


def _fold_into(layer: nn.Module, bn: nn.Module) -> None:
    a, b = bn_affine(bn)
    if isinstance(layer, BINARY):
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
    if isinstance(layer, BINARY):
        return True
    if isinstance(layer, nn.Conv2d):
        return layer.groups == 1 or layer.groups == layer.out_channels
    return isinstance(layer, nn.Linear)


def fuse_for_runtime(model: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """A traced eval-mode copy of ``model`` with batch norms folded, shapes recorded in ``node.meta``."""
    model = copy.deepcopy(model).eval().cpu()
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # fx raises many types for untraceable Python
        raise ExportError(f"torch.fx cannot trace the model: {exc}") from None
    gm = torch.fx.GraphModule(model, graph)
    for node in list(gm.graph.nodes):
        bn = module_of(gm, node)
        if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)) or not bn.track_running_stats:
            continue
        prev = node.args[0]
        if not isinstance(prev, torch.fx.Node) or len(prev.users) != 1 or not _foldable(module_of(gm, prev)):
            _replace_module(gm, str(node.target), RuntimeBatchNorm(bn))
            continue
        _fold_into(module_of(gm, prev), bn)  # type: ignore[arg-type]
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


def lower(model: nn.Module, example: torch.Tensor, output_names: list[str] | None = None) -> Lowered:
    """Trace and fold ``model`` (on ``example``, an NCHW batch) and map it to an .xnv graph.

    ``output_names`` renames the graph outputs (e.g. ``["logits"]``); a model returning a dict gets its keys.
    """
    twin = fuse_for_runtime(model, example)
    e = Emitter(twin)
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


def _rename(e: Emitter, outputs: list[str], names: list[str]) -> list[str]:
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
