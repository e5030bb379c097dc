"""Named training recipes: everything that decides a model, recorded in its checkpoint and .xnv metadata.

A recipe is data, not code, so ``xnorvision train --recipe NAME`` is reproducible and the exported file says
how it was made. The CPU defaults are small (few epochs, narrow width); on a GPU raise ``--epochs`` and
``--width`` and keep everything else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from xnorvision.train._binarize import binarize
from xnorvision.train._models import build_architecture

__all__ = ["RECIPES", "Recipe", "build_model", "get_recipe"]


@dataclass(frozen=True)
class Recipe:
    """How to train one model.

    ``target`` picks the training labels: ``"labels"`` (one-hot), ``"refine"`` (Label Refinery: soft labels
    from ``refinery``, recomputed on every augmented crop), or ``"distill"`` (Hinton: hard labels plus a
    temperature-softened teacher). ``refinery`` is ``"teacher"`` (a float checkpoint given by ``--teacher``)
    or ``"previous"`` (the model as it was at the end of the previous epoch, the previous round).
    ``init_from_teacher`` copies the teacher's weights into the latent weights before binarizing.
    """

    name: str
    mode: str = "float"  # "float", "bwn" or "xnor"
    arch: str = "vgg_small"
    width: int = 32
    num_classes: int = 10
    estimator: str = "ste"
    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    target: str = "labels"
    refinery: str = "teacher"
    temperature: float = 4.0
    distill_weight: float = 0.7
    init_from_teacher: bool = False
    seed: int = 0
    val_size: int = 5000  # CIFAR chunks: the last N images validate
    input_size: int = 32  # square input side; image folders are resized to it
    holdout: float = 0.2  # image folders: the fraction that validates (a seeded random split)

    def needs_teacher(self) -> bool:
        return self.init_from_teacher or (self.target in ("refine", "distill") and self.refinery == "teacher")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_overrides(self, **kw: Any) -> Recipe:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


_BINARY = dict(weight_decay=0.0, lr=1e-3)
# CPU-sized defaults (about 3 CPU-minutes per epoch at width 32); on a GPU: --width 128 --epochs 60.
# "cifar10-bwn"/"cifar10-xnor" refine labels with the previous epoch's model (no teacher needed); the
# "-teacher" variants use a float checkpoint as refinery and "-distill" distils it (both need --teacher).
# The objects plugin ships cifar10-float, cifar10-bwn-teacher and cifar10-xnor-distill (see its card).
RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("cifar10-float", mode="float", epochs=3),
    Recipe("cifar10-bwn", mode="bwn", epochs=2, target="refine", refinery="previous",
           **_BINARY),  # type: ignore[arg-type]
    Recipe("cifar10-xnor", mode="xnor", epochs=4, target="refine", refinery="previous",
           **_BINARY),  # type: ignore[arg-type]
    # Ablations for the model card: one-hot labels; a float teacher as refinery; Hinton distillation.
    Recipe("cifar10-xnor-plain", mode="xnor", epochs=4, target="labels", **_BINARY),  # type: ignore[arg-type]
    Recipe("cifar10-xnor-teacher", mode="xnor", epochs=4, target="refine", **_BINARY),  # type: ignore[arg-type]
    Recipe("cifar10-bwn-teacher", mode="bwn", epochs=2, target="refine", init_from_teacher=True,
           **_BINARY),  # type: ignore[arg-type]
    Recipe("cifar10-xnor-distill", mode="xnor", epochs=4, target="distill", **_BINARY),  # type: ignore[arg-type]
    # Your own classes: `--data DIR` of one sub-folder per class; --mode/--width/--input-size/--arch adapt it.
    Recipe("image-folder", mode="xnor", epochs=10, batch_size=32, target="labels", **_BINARY),  # type: ignore[arg-type]
]}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def build_model(recipe: Recipe, teacher_state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The recipe's float architecture, optionally initialised from a teacher, then binarized."""
    model = build_architecture(recipe.arch, recipe.width, recipe.num_classes, recipe.input_size)
    if teacher_state is not None:
        model.load_state_dict(teacher_state)
    if recipe.mode != "float":
        binarize(model, mode=recipe.mode, estimator=recipe.estimator)
    return model
