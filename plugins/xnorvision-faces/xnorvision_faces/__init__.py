"""xnorvision plugin 'faces': a binary face detector (proposal net + crop classifier + NMS).

Registers the models ``faces-proposal`` and ``faces-classifier`` and the pipeline ``faces``, whose
options (``--set KEY=VALUE``, read from ``PipelineOptions.extra``) are declared in ``OPTIONS``.
``--model`` replaces the proposal model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xnorvision.api import (
    ModelSpec,
    Option,
    PipelineOptions,
    PipelineSpec,
    PluginError,
    hookimpl,
    load_model,
    model_or_off,
)
from xnorvision_faces.stages import LONG_SIDE, MAX_PROPOSALS, SHRINKS, ClassifierStage, ProposalStage

#: The plugin API this plugin was written for.
XNORVISION_API_VERSION = 1
MODELS = Path(__file__).parent / "models"
PROPOSAL, CLASSIFIER = "faces-proposal", "faces-classifier"
NESTED_COVER = 0.6  # tuning split: no AP lost within its noise (MODEL_CARD.md)

__all__ = ["OPTIONS", "ClassifierStage", "ProposalStage", "build"]
OPTIONS = (
    Option("long_side", int, LONG_SIDE, "long side (px) the frame is scaled to for the proposal net"),
    Option("shrink", str, SHRINKS[0], "how the frame is shrunk for it: area (box mean, as in "
           "training; the same bytes on every CPU) or pyramid (pyrDown, blur, bilinear: slower)"),
    Option("proposals", int, MAX_PROPOSALS, "how many of the best proposals (after NMS) the classifier "
           "re-scores: more find more faces in a crowd, each costs a crop"),
    Option("classifier", model_or_off, CLASSIFIER, "crop classifier: a model name or .xnv path, or false "
           "to skip the second stage"),
    Option("classifier_weight", float, 0.25, "the classifier's share of the final score, in [0, 1]"),
    Option("nested_cover", float, NESTED_COVER, "drop a final box when this share of its area lies inside a "
           "better box (a second box on one face); 1 keeps them all"),
)
_DEFAULTS = {o.name: o.default for o in OPTIONS}


def build(options: PipelineOptions) -> list[Any]:
    """The stages of ``faces``: proposals over the frame, then (unless disabled) the crop classifier."""
    proposal = load_model(options.model or PROPOSAL, threads=options.threads)
    if len(proposal.output_names) != 3:
        raise PluginError(f"the faces proposal model needs 3 outputs (strides 8, 16, 32), "
                          f"got {proposal.output_names}")
    extra = _DEFAULTS | options.extra  # Python callers may leave options out
    cover = float(extra["nested_cover"])
    if not 0 < cover <= 1:
        raise PluginError(f"nested_cover must be in (0, 1], got {cover}")
    classifier = extra["classifier"]
    last = None if cover >= 1 else cover
    proposals = extra["proposals"]
    if isinstance(proposals, bool) or not isinstance(proposals, int) or not 1 <= proposals <= 1000:
        raise PluginError(f"proposals must be a whole number from 1 to 1000, got {proposals!r}")
    stages: list[Any] = [ProposalStage(proposal, long_side=int(extra["long_side"]), max_out=proposals,
                                       nested_cover=last if classifier is False else None,
                                       shrink=str(extra["shrink"]))]
    if classifier is not False:
        name = classifier if isinstance(classifier, str) else CLASSIFIER
        weight = float(extra["classifier_weight"])
        if not 0 <= weight <= 1:
            raise PluginError(f"classifier_weight must be in [0, 1], got {weight}")
        stages.append(ClassifierStage(load_model(name, threads=options.threads), weight=weight,
                                      nested_cover=last))
    return stages


@hookimpl
def xnorvision_register_models(register) -> None:  # noqa: ANN001 (pluggy passes the callback)
    register(ModelSpec(PROPOSAL, MODELS / "proposal.xnv", "binary face proposal net (strides 8/16/32)"))
    register(ModelSpec(CLASSIFIER, MODELS / "classifier.xnv", "binary 32x32 face/non-face crop classifier"))


@hookimpl
def xnorvision_register_pipelines(register) -> None:  # noqa: ANN001
    register(PipelineSpec("faces", build=build, description="binary face detector: proposals, crop "
                          "classifier, NMS", models=(PROPOSAL, CLASSIFIER), options=OPTIONS))
