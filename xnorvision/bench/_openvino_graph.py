"""The ``openvino-binary`` peer: an .xnv graph as an OpenVINO model, binary convs on its u1 kernel.

OpenVINO's own binarized networks binarize with a 2-level ``FakeQuantize`` (outputs 0 and 1, 1 meaning
+1) and convolve with ``BinaryConvolution`` ("xnor-popcount", u1 weights); everything else stays float.
This module builds the same thing from our graph, each op lowered by its record's ``to_openvino``
(:mod:`xnorvision.runtime.ops`). A ``bits`` tensor is kept as the float tensor
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

from typing import Any

import numpy as np

from xnorvision.runtime._format import XnvFile
from xnorvision.runtime.ops import OPS, Unsupported, signs

__all__ = ["Unsupported", "build_openvino_model"]


def build_openvino_model(model: XnvFile, batch: int, height: int, width: int) -> Any:
    """Return an ``openvino.Model`` computing ``model``'s graph outputs from an NCHW float32 input."""
    import openvino.opset8 as ops

    x = ops.parameter([batch, model.input_spec["channels"], height, width], np.float32, name="input")
    env: dict[str, Any] = {"input": x.output(0)}
    for node in model.nodes:
        params = {p: model.tensors[f"{node.name}.{p}"] for p in model.params[node.name]
                  if f"{node.name}.{p}" in model.tensors}
        lower = OPS[node.op].to_openvino
        if isinstance(lower, str):
            raise Unsupported(f"op {node.op!r} has no OpenVINO lowering: {lower}")
        t_in = model.types[node.inputs[0]]
        env[node.name] = _output(lower(node, [env[i] for i in node.inputs], params, t_in))
    import openvino as ov

    outputs = [signs(env[o]) if model.types[o].kind == "bits" else env[o]
               for o in model.outputs]  # a bits output as ±1, as the float twin gives it
    return ov.Model(outputs, [x], "xnorvision")


def _output(node: Any) -> Any:
    return node.output(0) if hasattr(node, "output") else node
