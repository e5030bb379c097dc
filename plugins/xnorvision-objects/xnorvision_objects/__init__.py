"""xnorvision plugin 'objects': CIFAR-10 classifiers and a pipeline that labels the frame or each proposal.

Registers the models ``cifar10-float``, ``cifar10-bwn`` and ``cifar10-xnor`` (one architecture, three
precisions; see MODEL_CARD.md) and the pipeline ``objects``. Imports only ``xnorvision.api``, like any
third-party plugin.
"""

from __future__ import annotations

from pathlib import Path

from xnorvision.api import ModelSpec, Option, PipelineOptions, PipelineSpec, hookimpl, load_model
from xnorvision_objects.stage import ObjectStage

__all__ = ["DEFAULT_MODEL", "MODELS", "OPTIONS", "ObjectStage", "build"]

#: The plugin API this plugin was written for.
XNORVISION_API_VERSION = 1
_DIR = Path(__file__).parent / "models"
MODELS = {
    "cifar10-float": "CIFAR-10 VGG-small, float32 weights and activations (the teacher)",
    "cifar10-bwn": "CIFAR-10 VGG-small, binary weights (BWN), real activations",
    "cifar10-xnor": "CIFAR-10 VGG-small, binary weights and activations (XNOR-Net)",
}
DEFAULT_MODEL = "cifar10-xnor"
OPTIONS = (Option("top_k", int, 3, "how many of the best classes each box keeps"),)


def build(options: PipelineOptions) -> list[ObjectStage]:
    """The ``objects`` pipeline: one object stage (put a proposal pipeline's stages before it to chain)."""
    top_k = int(options.extra.get("top_k", OPTIONS[0].default))
    return [ObjectStage(load_model(options.model or DEFAULT_MODEL, threads=options.threads), top_k=top_k)]


@hookimpl
def xnorvision_register_models(register) -> None:
    for name, description in MODELS.items():
        path = _DIR / f"{name}.xnv"
        if path.is_file():
            register(ModelSpec(name, path, description))


@hookimpl
def xnorvision_register_pipelines(register) -> None:
    register(PipelineSpec("objects", build=build, models=tuple(MODELS),
                          description="CIFAR-10 classes of the frame's centre crop, or of each proposal",
                          options=OPTIONS))
