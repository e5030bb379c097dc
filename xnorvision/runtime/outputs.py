"""What a model's outputs mean: ``logits`` or ``probabilities``, and the one helper that turns either into
probabilities.

Stages report scores in [0, 1]. Models exported by ``xnorvision train`` end at a linear layer (logits),
others end at a softmax; the graph says which (``output_kinds``), so no stage guesses from an output's name.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from xnorvision.errors import ModelFormatError

OutputKind = Literal["logits", "probabilities"]
KINDS: tuple[OutputKind, ...] = ("logits", "probabilities")
_PROBABILITY_OPS = frozenset({"softmax", "sigmoid"})


def output_kinds(graph: dict[str, Any], outputs: list[str]) -> dict[str, OutputKind]:
    """Each output's kind: as the graph's ``output_kinds`` declares it, else inferred for older files.

    An undeclared output made by a ``softmax`` or ``sigmoid`` node holds probabilities; any other holds
    logits (what an exporter's classifier head produces).
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
    return {o: declared.get(o) or ("probabilities" if ops.get(o) in _PROBABILITY_OPS else "logits")
            for o in outputs}


def to_probabilities(values: np.ndarray, kind: OutputKind) -> np.ndarray:
    """Class probabilities along the last axis, float32.

    ``logits`` get a softmax (a single column, a sigmoid: one-unit binary heads); ``probabilities`` are
    returned as they are.
    """
    x = np.asarray(values, np.float32)
    if kind == "probabilities":
        return x
    if kind != "logits":
        raise ValueError(f"unknown output kind {kind!r}; expected one of {', '.join(KINDS)}")
    if x.shape[-1] == 1:
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)
