"""The public API: everything a plugin (first-party or third-party) may import from xnorvision.

Plugins import only from here (or the package root), so the private modules can move freely.
"""

from xnorvision import API_VERSION, __version__
from xnorvision.detect import Detections, box_iou, crop_square, crop_squares, nms
from xnorvision.errors import ModelFormatError, PluginError, XnorvisionError
from xnorvision.eval.faces import (
    TUNE_IMAGES,
    FaceImage,
    average_precision,
    load_face_list,
    match_detections,
    precision_recall,
)
from xnorvision.pipeline import FrameResult, Sink, Source
from xnorvision.plugins import (
    ModelSpec,
    PipelineOptions,
    PipelineSpec,
    SinkSpec,
    SourceSpec,
    Stage,
    hookimpl,
    load_model,
    resolve_model,
)
from xnorvision.runtime import Model, save_model

__all__ = [
    "API_VERSION",
    "Detections",
    "FaceImage",
    "FrameResult",
    "Model",
    "ModelFormatError",
    "ModelSpec",
    "PipelineOptions",
    "PipelineSpec",
    "PluginError",
    "Sink",
    "SinkSpec",
    "Source",
    "SourceSpec",
    "Stage",
    "TUNE_IMAGES",
    "XnorvisionError",
    "__version__",
    "average_precision",
    "box_iou",
    "crop_square",
    "crop_squares",
    "hookimpl",
    "load_face_list",
    "load_model",
    "match_detections",
    "nms",
    "precision_recall",
    "resolve_model",
    "save_model",
]
