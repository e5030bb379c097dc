"""What one .xnv op is: one record holding every part that knows the op.

Adding an op, or a peer that runs .xnv graphs another way, touches the op's record and nothing that
switches on op names. The torch and OpenVINO parts import their library when called, so the runtime
(which reads ``schema``, ``layer`` and ``macs``) never imports torch or openvino.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from xnorvision.errors import ModelFormatError
from xnorvision.runtime._layers import Layer
from xnorvision.runtime._schema import Ctx, Node, Result, TensorType

Params = dict[str, np.ndarray]
#: checks a node's attrs and input types; returns its output type and the parameter tensors it needs
Schema = Callable[[Ctx], Result]
#: builds the runtime layer from the (folded) node, its parameters and its first input's type
LayerBuilder = Callable[[Node, Params, TensorType], Layer]
#: multiply-accumulates at batch 1 from (attrs, input type, output type); None while a size is open
MacCount = Callable[[dict[str, Any], TensorType, TensorType], int | None]
#: the float32 torch twin of the op (NCHW): (node, input tensors, parameters in torch layout) -> tensor.
#: It is also what ONNX peers run (torch.onnx exports the twin).
TorchLowering = Callable[[Node, list[Any], dict[str, Any]], Any]
#: rejects parameter values the op can never sensibly hold (ModelFormatError); shapes are checked already
ValueCheck = Callable[[Node, Params], None]
#: the op in an OpenVINO graph (NCHW): (node, input outputs, parameters, first input's type) -> node
OpenVinoLowering = Callable[[Node, list[Any], Params, TensorType], Any]


def no_macs(attrs: dict[str, Any], t_in: TensorType, t_out: TensorType) -> int:
    """The MACs of ops whose arithmetic ``model.info`` does not count (elementwise, pooling, reshapes)."""
    return 0


def packed_weight_check(channels_attr: str) -> ValueCheck:
    """A packed ``weight`` has no bits set past the channel count in ``channels_attr``: set bits in the unused
    high end of the last word would corrupt every dot product."""

    def check(node: Node, p: Params) -> None:
        c = node.attrs[channels_attr]
        if c % 64 and np.any(p["weight"][..., -1] >> np.uint64(c % 64)):
            raise ModelFormatError(f"node {node.name!r}: packed weight has bits set beyond channel {c}")

    return check


@dataclass(frozen=True)
class OpDef:
    """One op: its name as files spell it and every part that knows it.

    ``macs`` is :func:`no_macs` for ops whose arithmetic is not counted (elementwise, pooling, reshapes);
    ``kind`` says which total an op's MACs join. ``to_openvino`` is a lowering, or a string saying why the
    op has none (the peer then reports that reason). ``variadic`` ops (``add``, ``concat``) take several
    inputs. ``work`` is what the op's time counts as in ``bench model --profile`` ("binary conv" is what
    runs in the popcount kernels). An undeclared graph output made by a ``probabilities`` op holds
    probabilities (see :mod:`xnorvision.runtime._outputs`). ``check_values``, where given, rejects
    parameter values no model can sensibly hold when a file is read or written.
    """

    name: str
    schema: Schema
    layer: LayerBuilder
    to_torch: TorchLowering
    to_openvino: OpenVinoLowering | str
    macs: MacCount = no_macs
    kind: Literal["float", "binary", "bwn"] = "float"
    variadic: bool = False
    probabilities: bool = False
    check_values: ValueCheck | None = None
    work: Literal["binary conv", "float conv", "pack", "pool", "elementwise", "copy"] = field(kw_only=True)
