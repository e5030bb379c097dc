"""The pipeline contract, sources, sinks and the threaded runner that moves frames through a pipeline.

Names are imported on first use, so the contract (:mod:`xnorvision.pipeline._contract`) loads without OpenCV.
"""

from typing import TYPE_CHECKING

from xnorvision._lazy import lazy_exports

if TYPE_CHECKING:
    from xnorvision.pipeline._contract import Pipeline, PipelineOptions, Stage, StageFailed
    from xnorvision.pipeline._profile import PipelineProfile
    from xnorvision.pipeline._result import FrameResult
    from xnorvision.pipeline._runner import Runner, StageError, Summary
    from xnorvision.pipeline._sinks import JsonlSink, Sink, VideoSink
    from xnorvision.pipeline._sources import Source, open_source, parse_size
    from xnorvision.pipeline._synth import SynthSource

__all__ = ["FrameResult", "JsonlSink", "Pipeline", "PipelineOptions", "PipelineProfile", "Runner", "Sink",
           "Source", "Stage", "StageError", "StageFailed", "Summary", "SynthSource", "VideoSink",
           "open_source", "parse_size"]
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(["Pipeline", "PipelineOptions", "Stage", "StageFailed"], "xnorvision.pipeline._contract"),
    "FrameResult": "xnorvision.pipeline._result",
    "PipelineProfile": "xnorvision.pipeline._profile",
    **dict.fromkeys(["Runner", "StageError", "Summary"], "xnorvision.pipeline._runner"),
    **dict.fromkeys(["JsonlSink", "Sink", "VideoSink"], "xnorvision.pipeline._sinks"),
    **dict.fromkeys(["Source", "open_source", "parse_size"], "xnorvision.pipeline._sources"),
    "SynthSource": "xnorvision.pipeline._synth",
})
