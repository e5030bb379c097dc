"""Training targets: one-hot labels, Label Refinery soft labels, and Hinton distillation.

Label Refinery (Bagherinezhad et al., 2018) replaces every training label by the refinery's prediction on the
*same augmented crop*, so labels are refreshed at every step; the refinery is a float teacher or the previous
round's model (here: the model frozen at the end of the previous epoch). Plain distillation keeps the hard
labels and adds a temperature-softened teacher term.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from xnorvision.train._recipes import Recipe

__all__ = ["Targets"]


class Targets:
    """Computes the loss of a batch for one recipe, owning the refinery model when there is one."""

    def __init__(self, recipe: Recipe, teacher: nn.Module | None) -> None:
        if recipe.target not in ("labels", "refine", "distill"):
            raise ValueError(f"unknown target {recipe.target!r}")
        if recipe.target != "labels" and recipe.refinery == "teacher" and teacher is None:
            raise ValueError(f"recipe {recipe.name} needs a teacher")
        self.recipe = recipe
        self.refinery: nn.Module | None = teacher.eval() if teacher is not None else None
        if self.refinery is not None:
            self.refinery.requires_grad_(False)

    def new_round(self, model: nn.Module) -> None:
        """At the end of an epoch: the ``"previous"`` refinery becomes a frozen copy of the model."""
        if self.recipe.target != "labels" and self.recipe.refinery == "previous":
            m = model.module if hasattr(model, "module") else model
            self.refinery = copy.deepcopy(m).eval().requires_grad_(False)

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r = self.recipe
        hard = F.cross_entropy(logits, y, label_smoothing=r.label_smoothing)
        if r.target == "labels" or self.refinery is None:  # "previous" has no refinery in round one
            return hard
        with torch.no_grad():
            ref = self.refinery(x)
        if r.target == "refine":
            return -(F.softmax(ref, dim=1) * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
        t = r.temperature
        soft = F.kl_div(F.log_softmax(logits / t, dim=1), F.softmax(ref / t, dim=1), reduction="batchmean")
        return (1 - r.distill_weight) * hard + r.distill_weight * t * t * soft
