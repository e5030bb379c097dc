"""The hooks a plugin may implement. Each receives a ``register`` callback (llm's style), so one plugin
can register several models, pipelines, sources or sinks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "xnorvision"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[Any], None]


@hookspec
def xnorvision_register_models(register: Register) -> None:
    """Call ``register(ModelSpec(...))`` for each model file the plugin ships."""


@hookspec
def xnorvision_register_pipelines(register: Register) -> None:
    """Call ``register(PipelineSpec(...))`` for each pipeline ``--plugin NAME`` can select."""


@hookspec
def xnorvision_register_sources(register: Register) -> None:
    """Call ``register(SourceSpec(...))`` for each extra frame source (e.g. ``rtsp://``)."""


@hookspec
def xnorvision_register_sinks(register: Register) -> None:
    """Call ``register(SinkSpec(...))`` for each extra output."""
