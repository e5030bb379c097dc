"""Plugin hooks, the records plugins register, and the manager that loads them safely."""

from xnorvision.plugins._hookspecs import hookimpl, hookspec
from xnorvision.plugins._manager import (
    ENTRY_POINT_GROUP,
    current_registry,
    load_model,
    load_registry,
    new_plugin_manager,
    resolve_model,
)
from xnorvision.plugins._options import Option, model_or_off, parse_settings
from xnorvision.plugins._registry import PluginInfo, Registry
from xnorvision.plugins._specs import ModelSpec, PipelineOptions, PipelineSpec, SinkSpec, SourceSpec, Stage

__all__ = [
    "ENTRY_POINT_GROUP",
    "ModelSpec",
    "Option",
    "PipelineOptions",
    "PipelineSpec",
    "PluginInfo",
    "Registry",
    "SinkSpec",
    "SourceSpec",
    "Stage",
    "current_registry",
    "hookimpl",
    "hookspec",
    "load_model",
    "load_registry",
    "model_or_off",
    "new_plugin_manager",
    "parse_settings",
    "resolve_model",
]
