"""xnorvision plugin 'faces': a binary face detector (proposal net + crop classifier + NMS).

Registers the models ``faces-proposal`` and ``faces-classifier`` and the pipeline ``faces``. Options
(``PipelineOptions.extra``): ``long_side`` (proposal input size, default 416), ``classifier`` (False skips
the second stage; a model name or .xnv path replaces its model) and ``classifier_weight`` (the classifier's
share of the final score, default 0.25). ``--model`` replaces the proposal model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xnorvision.api import ModelSpec, PipelineOptions, PipelineSpec, PluginError, hookimpl, load_model
from xnorvision_faces.stages import LONG_SIDE, ClassifierStage, ProposalStage

#: The plugin API this plugin was written for.
XNORVISION_API_VERSION = 1
MODELS = Path(__file__).parent / "models"
PROPOSAL, CLASSIFIER = "faces-proposal", "faces-classifier"

__all__ = ["ClassifierStage", "ProposalStage", "build"]


def build(options: PipelineOptions) -> list[Any]:
    """The stages of ``faces``: proposals over the frame, then (unless disabled) the crop classifier."""
    proposal = load_model(options.model or PROPOSAL, threads=options.threads)
    if len(proposal.output_names) != 3:
        raise PluginError(f"the faces proposal model needs 3 outputs (strides 8, 16, 32), "
                          f"got {proposal.output_names}")
    stages: list[Any] = [ProposalStage(proposal, long_side=int(options.extra.get("long_side", LONG_SIDE)))]
    classifier = options.extra.get("classifier", True)
    if classifier is not False:
        name = classifier if isinstance(classifier, str) else CLASSIFIER
        weight = float(options.extra.get("classifier_weight", 0.25))
        if not 0 <= weight <= 1:
            raise PluginError(f"classifier_weight must be in [0, 1], got {weight}")
        stages.append(ClassifierStage(load_model(name, threads=options.threads), weight=weight))
    return stages


@hookimpl
def xnorvision_register_models(register) -> None:  # noqa: ANN001 (pluggy passes the callback)
    register(ModelSpec(PROPOSAL, MODELS / "proposal.xnv", "binary face proposal net (strides 8/16/32)"))
    register(ModelSpec(CLASSIFIER, MODELS / "classifier.xnv", "binary 32x32 face/non-face crop classifier"))


@hookimpl
def xnorvision_register_pipelines(register) -> None:  # noqa: ANN001
    register(PipelineSpec("faces", build=build, description="binary face detector: proposals, crop "
                          "classifier, NMS", models=(PROPOSAL, CLASSIFIER)))
