"""Plugin hooks, the records plugins register, and the manager that loads them safely."""

from xnorvision.plugins.hookspecs import hookimpl, hookspec
from xnorvision.plugins.specs import ModelSpec, PipelineOptions, PipelineSpec, SinkSpec, SourceSpec, Stage

__all__ = ["ModelSpec", "PipelineOptions", "PipelineSpec", "SinkSpec", "SourceSpec", "Stage", "hookimpl",
           "hookspec"]
