"""Export a trained torch model (or a training checkpoint) to an .xnv file the runtime runs bit-exactly.

``export_model`` traces the model with torch.fx, folds batch norm and the XNOR scaling into each binary
layer's ``scale``/``bias`` and writes the file with the runtime's own ``save_model`` (which validates it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from xnorvision.errors import XnorvisionError
from xnorvision.runtime import save_model
from xnorvision.runtime._format import describe_outputs
from xnorvision.runtime._outputs import OutputKind
from xnorvision.train._fx_emit import ExportError
from xnorvision.train._fx_lower import Lowered, lower

__all__ = ["ExportError", "example_input", "export_checkpoint", "export_model"]


def example_input(input_spec: dict[str, Any], size: int = 64, batch: int = 2) -> torch.Tensor:
    """A random NCHW batch of the spec's shape (``size`` for a fully-convolutional side)."""
    h = input_spec.get("height") or size
    w = input_spec.get("width") or size
    channels = int(input_spec.get("channels", 3))
    return torch.randn(batch, channels, h, w, generator=torch.Generator().manual_seed(0))


def export_model(model: nn.Module, path: str | Path, input_spec: dict[str, Any], labels: list[str],
                 metadata: dict[str, Any], output_names: list[str] | None = None,
                 float_storage: str = "float32", *,
                 output_kinds: dict[str, OutputKind] | None = None) -> Lowered:
    """Write ``model`` as ``path``; returns the lowered graph and the torch twin (for parity checks).

    ``input_spec`` is the .xnv input spec (the normalisation the model was trained with); the model's
    ``forward`` must take one NCHW float tensor and return a tensor, a tuple or a dict of tensors.
    ``float_storage="int8"`` stores the float weights as int8 with per-channel scales (docs/xnv-format.md).
    ``output_kinds`` says which outputs are ``"logits"``, ``"probabilities"`` or ``"raw"``; the file always
    records every output's kind (one not given is probabilities after a softmax or sigmoid, logits for
    another ``[N, C]`` output, else raw), so ``Model.probabilities`` never guesses.
    """
    lowered = lower(model, example_input(input_spec), output_names)
    lowered.graph["output_kinds"] = {**describe_outputs(lowered.graph, input_spec), **(output_kinds or {})}
    save_model(path, lowered.graph, lowered.tensors, input_spec, labels, metadata, float_storage)
    return lowered


def export_checkpoint(checkpoint: str | Path, path: str | Path, float_storage: str = "float32") -> Path:
    """Export a :func:`~xnorvision.train._trainer.train` checkpoint, its recipe and history as metadata."""
    from xnorvision.train._data import input_spec
    from xnorvision.train._trainer import NotACheckpoint, load_checkpoint, model_from_checkpoint

    try:
        ckpt = load_checkpoint(checkpoint)
        model, recipe = model_from_checkpoint(ckpt, checkpoint)
    except NotACheckpoint as exc:
        raise XnorvisionError(f"{exc}; export your own torch model from Python with "
                              "xnorvision.train.export_model (docs/plugins.md)") from None
    history = ckpt.get("history") or []
    metadata = {"recipe": recipe.to_dict(), "data_hash": ckpt.get("data_hash"),
                "epochs_done": ckpt.get("epoch"),
                "history": history, "teacher": ckpt.get("teacher"), "torch": torch.__version__}
    if history:
        metadata["val_top1"] = history[-1]["val_acc"]
        # the held-out images the accuracy was measured on (checkpoints before it was recorded: the recipe's)
        metadata["val_images"] = history[-1].get("val_images", recipe.val_size)
    size = recipe.input_size
    export_model(model, path, input_spec(size, size), list(ckpt.get("classes") or []), metadata, ["logits"],
                 float_storage)
    return Path(path)
