"""Sources, sinks and the threaded runner that moves frames through a pipeline's stages."""

from xnorvision.pipeline.result import FrameResult
from xnorvision.pipeline.runner import Runner, StageError, Summary
from xnorvision.pipeline.sinks import JsonlSink, Sink, VideoSink
from xnorvision.pipeline.sources import Source, open_source, parse_size
from xnorvision.pipeline.synth import SynthSource

__all__ = ["FrameResult", "JsonlSink", "Runner", "Sink", "Source", "StageError", "Summary", "SynthSource",
           "VideoSink", "open_source", "parse_size"]
