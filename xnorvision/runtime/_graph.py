"""Checking and typing a whole .xnv graph: its JSON structure, each node's schema, activation limits.

The same code validates a file (spatial sizes possibly unknown) and plans an executor (sizes known), so a
graph that validates is a graph the executor can run. Per-op knowledge comes from the op registry.
"""

from __future__ import annotations

import math
from typing import Any

from xnorvision.errors import ModelFormatError
from xnorvision.runtime._schema import Ctx, Node, ParamSpec, TensorType, words
from xnorvision.runtime.ops import OPS

MAX_ACTIVATION_BYTES = 1 << 30


def parse_nodes(graph: Any) -> tuple[list[Node], list[str]]:
    """Check the graph's JSON structure (not yet the types); return its nodes and output names."""
    if not isinstance(graph, dict):
        raise ModelFormatError("graph must be a JSON object")
    if graph.get("inputs") != ["input"]:
        raise ModelFormatError(f"graph inputs must be [\"input\"], got {graph.get('inputs')!r}")
    outputs, raw = graph.get("outputs"), graph.get("nodes")
    if not (isinstance(outputs, list) and outputs and all(isinstance(o, str) for o in outputs)):
        raise ModelFormatError("graph outputs must be a non-empty list of names")
    if not isinstance(raw, list) or not raw:
        raise ModelFormatError("graph nodes must be a non-empty list")
    nodes, seen = [], {"input"}
    for i, n in enumerate(raw):
        if not isinstance(n, dict):
            raise ModelFormatError(f"graph node #{i} is not an object")
        name, op, inputs, attrs = n.get("name"), n.get("op"), n.get("inputs"), n.get("attrs", {})
        if not isinstance(name, str) or not name or "." in name:
            raise ModelFormatError(f"graph node #{i}: name must be a non-empty string without '.': {name!r}")
        if name in seen:
            raise ModelFormatError(f"node {name!r}: duplicate name")
        if not isinstance(op, str) or op not in OPS:
            raise ModelFormatError(f"node {name!r}: unknown op {op!r}")
        if not (isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs)):
            raise ModelFormatError(f"node {name!r}: inputs must be a non-empty list of names")
        if len(inputs) > 1 and not OPS[op].variadic:
            raise ModelFormatError(f"node {name!r} ({op}): takes one input, got {len(inputs)}")
        missing = [x for x in inputs if x not in seen]
        if missing:
            raise ModelFormatError(f"node {name!r}: input {missing[0]!r} is not defined before it")
        if not isinstance(attrs, dict):
            raise ModelFormatError(f"node {name!r}: attrs must be an object")
        seen.add(name)
        nodes.append(Node(name, op, tuple(inputs), attrs))
    for o in outputs:
        if o not in seen or o == "input":
            raise ModelFormatError(f"graph output {o!r} is not a node")
    return nodes, outputs


def tensor_bytes(t: TensorType, batch: int = 1) -> int | None:
    """Bytes of one activation (float32, or packed uint64 words for bits); None when its size is open."""
    dims = [t.h, t.w, t.channels] if t.rank == 4 else [t.channels]
    if None in dims:
        return None
    *spatial, c = dims
    return batch * math.prod(spatial) * (words(c) * 8 if t.kind == "bits" else c * 4)  # type: ignore[arg-type]


def infer(nodes: list[Node], input_type: TensorType) -> tuple[dict[str, TensorType], dict[str, dict]]:
    """Type every tensor; return the types and, per node, the parameter tensors it needs.

    A tensor over :data:`MAX_ACTIVATION_BYTES` per image is an error: no real network needs one, and a
    file declaring one would otherwise exhaust memory when it runs.
    """
    _check_size("input", input_type)
    types = {"input": input_type}
    params: dict[str, dict[str, ParamSpec]] = {}
    for node in nodes:
        out, params[node.name] = OPS[node.op].schema(Ctx(node, [types[x] for x in node.inputs]))
        _check_size(f"node {node.name!r} ({node.op})", out)
        types[node.name] = out
    return types, params


def peak_activation_bytes(nodes: list[Node], outputs: list[str], types: dict[str, TensorType]) -> int | None:
    """Largest sum of live activations per image while running the graph in order (before load-time
    fusion, which only lowers it); None when a size is open (an any-size model before its input size).

    The input counts throughout: the runtime keeps its preprocessing buffer for the next call.
    """
    sizes = {k: tensor_bytes(t) for k, t in types.items()}
    if None in sizes.values():
        return None
    last = {k: i for i, n in enumerate(nodes) for k in n.inputs}
    live = {"input": sizes["input"]}
    total = peak = sizes["input"] or 0
    for i, node in enumerate(nodes):
        live[node.name] = sizes[node.name]
        total += sizes[node.name] or 0
        peak = max(peak, total)
        for k in set(node.inputs):
            if last.get(k) == i and k not in outputs and k != "input":
                total -= live.pop(k, None) or 0
    return peak


def check_peak(nodes: list[Node], outputs: list[str], types: dict[str, TensorType]) -> None:
    """The live tensors together stay within :data:`MAX_ACTIVATION_BYTES` per image, the limit each one has.

    Each tensor under the limit is not enough: a few kilobytes of graph that keeps many of them alive at
    once (an "activation bomb") would pass, then fail with MemoryError on every frame.
    """
    peak = peak_activation_bytes(nodes, outputs, types)
    if peak is not None and peak > MAX_ACTIVATION_BYTES:
        raise ModelFormatError(f"running the graph would hold {peak / 2**30:.1f} GiB of activations at once "
                               f"per image (limit {MAX_ACTIVATION_BYTES >> 30} GiB)")


def _check_size(what: str, t: TensorType) -> None:
    size = tensor_bytes(t)
    if size is not None and size > MAX_ACTIVATION_BYTES:
        raise ModelFormatError(f"{what}: the tensor would take {size / 2**30:.1f} GiB per image "
                               f"(limit {MAX_ACTIVATION_BYTES >> 30} GiB)")
