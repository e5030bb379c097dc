"""What a model costs: parameters, binary vs float MACs, bytes on disk, peak activation memory."""

from __future__ import annotations

import math
from typing import Any

from xnorvision.errors import XnorvisionError
from xnorvision.runtime._format import XnvFile
from xnorvision.runtime._graph import infer, peak_activation_bytes
from xnorvision.runtime._schema import TensorType
from xnorvision.runtime.ops import OPS


def model_info(model: XnvFile, height: int | None = None, width: int | None = None) -> dict[str, Any]:
    """A JSON-ready summary at batch 1; ``height``/``width`` size an open-size model (else MACs are null)."""
    spec = model.input_spec
    h, w = (height, width) if height is not None else (spec["height"], spec["width"])
    types = model.types
    if h is not None and (h, w) != (spec["height"], spec["width"]):
        try:
            types, _ = infer(model.nodes, TensorType("float", 4, spec["channels"], h, w))
        except XnorvisionError as exc:
            raise XnorvisionError(f"input size {h}x{w} does not fit this model: {exc}") from None
    layers, totals = [], {"float": 0, "binary": 0, "bwn": 0}
    params = {"float": 0, "binary": 0}
    for node in model.nodes:
        n_params = 0
        for pname in model.params[node.name]:
            arr = model.tensors.get(f"{node.name}.{pname}")
            if arr is None:
                continue
            bits = arr.dtype.kind == "u"
            count = _bit_count(arr.shape, types[node.inputs[0]].channels) if bits else arr.size
            params["binary" if bits else "float"] += count
            n_params += count
        op = OPS[node.op]
        kind, macs = op.kind, op.macs(node.attrs, types[node.inputs[0]], types[node.name])
        if macs is not None:
            totals[kind] += macs
        layers.append({"name": node.name, "op": node.op, "output": types[node.name].describe(),
                       "params": n_params, "macs": macs, "kind": kind if macs else None})
    known = all(lay["macs"] is not None for lay in layers)
    weight_bytes = model.weight_bytes
    return {
        "input": {**spec, "height": h, "width": w},
        "outputs": model.outputs, "labels": len(model.labels), "layers": layers,
        "params": {**params, "total": params["float"] + params["binary"]},
        "macs": {**totals, "total": sum(totals.values())} if known else None,
        "weight_bytes": weight_bytes, "float32_weight_bytes": 4 * (params["float"] + params["binary"]),
        "file_bytes": model.nbytes,
        "peak_activation_bytes": peak_activation_bytes(model.nodes, model.outputs, types),
        "metadata": model.metadata,
    }


def _bit_count(shape: tuple[int, ...], channels: int | None) -> int:
    """Real weights in a packed tensor: the last axis holds ``channels`` bits, not 64 per word."""
    return math.prod(shape[:-1]) * (channels or 0)
