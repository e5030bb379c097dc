"""What a model's outputs mean (``logits``, ``probabilities`` or ``raw``) and the one helper that turns
logits or probabilities into probabilities.

Stages report scores in [0, 1]. Models exported by ``xnorvision train`` end at a linear layer (logits),
others end at a softmax; the graph says which (``output_kinds``), so no stage guesses from an output's name.
``raw`` outputs (box offsets, dense head maps) are decoded by the stage that knows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xnorvision.errors import ModelFormatError
from xnorvision.runtime.ops import OPS

if TYPE_CHECKING:
    from xnorvision.runtime._schema import TensorType

OutputKind = Literal["logits", "probabilities", "raw"]
KINDS: tuple[OutputKind, ...] = ("logits", "probabilities", "raw")


def output_kinds(
    graph: dict[str, Any], outputs: list[str], types: dict[str, TensorType]
) -> dict[str, OutputKind]:
    """Each output's kind: as the graph's ``output_kinds`` declares it, else inferred (files before it).

    An undeclared output made by a ``probabilities`` op (``softmax``, ``sigmoid``) holds probabilities;
    another ``[N, C]`` output (a classifier head) holds logits; anything else (NHWC maps, bits) is raw.
    """
    declared = graph.get("output_kinds", {})
    if not isinstance(declared, dict):
        raise ModelFormatError("graph output_kinds must be an object: output name -> kind")
    for name, kind in declared.items():
        if name not in outputs:
            raise ModelFormatError(f"graph output_kinds names {name!r}, which is not a graph output")
        if kind not in KINDS:
            raise ModelFormatError(f"graph output_kinds[{name!r}] is {kind!r}; "
                                   f"expected one of {', '.join(KINDS)}")
    ops = {n.get("name"): n.get("op") for n in graph.get("nodes", []) if isinstance(n, dict)}
    return {o: declared.get(o) or _inferred(ops.get(o), types[o]) for o in outputs}


def _inferred(op: str | None, t: TensorType) -> OutputKind:
    if op in OPS and OPS[op].probabilities:
        return "probabilities"
    return "logits" if t.kind == "float" and t.rank == 2 else "raw"


def to_probabilities(values: np.ndarray, kind: OutputKind) -> np.ndarray:
    """Class probabilities along the last axis, float32.

    ``logits`` get a softmax (a single column, a sigmoid: one-unit binary heads); ``probabilities`` are
    returned as they are; ``raw`` outputs have no probabilities (``ValueError``).
    """
    x = np.asarray(values, np.float32)
    if kind == "probabilities":
        return x
    if kind != "logits":
        raise ValueError(f"a {kind!r} output has no probabilities (only logits or probabilities do)")
    if x.shape[-1] == 1:
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)
