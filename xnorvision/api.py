"""The public API: everything a plugin (first-party or third-party) may import from xnorvision.

Plugins import only from here (or the package root), so the private modules can move freely. Every name
is imported on first use (PEP 562): ``from xnorvision.api import hookimpl`` loads neither OpenCV nor the
compiled kernels, so a plugin's import (and ``xnorvision plugins``) stays fast.
"""

from typing import TYPE_CHECKING

from xnorvision import API_VERSION, __version__
from xnorvision._lazy import lazy_exports

if TYPE_CHECKING:
    from xnorvision._profiling import timed
    from xnorvision._replace import replace_atomically
    from xnorvision.detect import Detections, box_iou, crop_square, crop_squares, drop_nested, nms
    from xnorvision.errors import ModelFormatError, PluginError, XnorvisionError
    from xnorvision.eval._faces import (
        TUNE_IMAGES,
        FaceImage,
        average_precision,
        load_face_list,
        match_detections,
        precision_recall,
    )
    from xnorvision.pipeline import FrameResult, Pipeline, PipelineOptions, Sink, Source, Stage
    from xnorvision.plugins import (
        ModelSpec,
        Option,
        PipelineSpec,
        SinkSpec,
        SourceSpec,
        hookimpl,
        load_model,
        model_or_off,
        resolve_model,
    )
    from xnorvision.runtime import Model, save_model, to_probabilities

__all__ = [
    "API_VERSION",
    "Detections",
    "FaceImage",
    "FrameResult",
    "Model",
    "ModelFormatError",
    "ModelSpec",
    "Option",
    "Pipeline",
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
    "drop_nested",
    "hookimpl",
    "load_face_list",
    "load_model",
    "match_detections",
    "model_or_off",
    "nms",
    "precision_recall",
    "replace_atomically",
    "resolve_model",
    "save_model",
    "timed",
    "to_probabilities",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["Detections", "box_iou", "crop_square", "crop_squares", "drop_nested", "nms"],
                   "xnorvision.detect"),
    **dict.fromkeys(["ModelFormatError", "PluginError", "XnorvisionError"], "xnorvision.errors"),
    **dict.fromkeys(["TUNE_IMAGES", "FaceImage", "average_precision", "load_face_list", "match_detections",
                     "precision_recall"], "xnorvision.eval._faces"),
    **dict.fromkeys(["FrameResult", "Pipeline", "PipelineOptions", "Sink", "Source", "Stage"],
                    "xnorvision.pipeline"),
    **dict.fromkeys(["ModelSpec", "PipelineSpec", "SinkSpec", "SourceSpec", "load_model", "resolve_model"],
                    "xnorvision.plugins"),
    "hookimpl": "xnorvision.plugins._hookspecs",
    **dict.fromkeys(["Option", "model_or_off"], "xnorvision.plugins._options"),
    "replace_atomically": "xnorvision._replace",
    "timed": "xnorvision._profiling",
    **dict.fromkeys(["Model", "save_model", "to_probabilities"], "xnorvision.runtime"),
})
