"""The pipeline contract, sources, sinks and the threaded runner that moves frames through a pipeline.

Names are imported on first use, so the contract (:mod:`xnorvision.pipeline.contract`) loads without OpenCV.
"""

from typing import TYPE_CHECKING

from xnorvision._lazy import lazy_exports

if TYPE_CHECKING:
    from xnorvision.pipeline.contract import Pipeline, PipelineOptions, Stage, StageFailed
    from xnorvision.pipeline.result import FrameResult
    from xnorvision.pipeline.runner import Runner, StageError, Summary
    from xnorvision.pipeline.sinks import JsonlSink, Sink, VideoSink
    from xnorvision.pipeline.sources import Source, open_source, parse_size
    from xnorvision.pipeline.synth import SynthSource

__all__ = ["FrameResult", "JsonlSink", "Pipeline", "PipelineOptions", "Runner", "Sink", "Source", "Stage",
           "StageError", "StageFailed", "Summary", "SynthSource", "VideoSink", "open_source", "parse_size"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["Pipeline", "PipelineOptions", "Stage", "StageFailed"], "xnorvision.pipeline.contract"),
    "FrameResult": "xnorvision.pipeline.result",
    **dict.fromkeys(["Runner", "StageError", "Summary"], "xnorvision.pipeline.runner"),
    **dict.fromkeys(["JsonlSink", "Sink", "VideoSink"], "xnorvision.pipeline.sinks"),
    **dict.fromkeys(["Source", "open_source", "parse_size"], "xnorvision.pipeline.sources"),
    "SynthSource": "xnorvision.pipeline.synth",
})
