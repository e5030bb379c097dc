"""Turn what the user asked for (``xnorvision run`` options) into a ready :class:`Runner`.

Everything that can fail on user input fails here, before the first frame: the source opens, the
pipeline builds, the output paths are writable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from xnorvision._outputs import Named, check_outputs
from xnorvision.errors import PLUGIN_FAILURES, PluginError, XnorvisionError
from xnorvision.pipeline._contract import Pipeline, PipelineOptions, Stage
from xnorvision.pipeline._guard import GuardedSink
from xnorvision.pipeline._runner import Runner
from xnorvision.pipeline._sinks import JsonlSink, Sink, VideoSink
from xnorvision.pipeline._sources import open_source, parse_size, source_files
from xnorvision.plugins._options import parse_settings
from xnorvision.plugins._registry import SEP, Registry
from xnorvision.plugins._specs import PipelineSpec
from xnorvision.runtime._threads import usable_threads


@dataclass
class RunConfig:
    source: str | None = None
    camera: int | None = None
    size: str | None = None
    plugin: str | None = None
    model: str | None = None
    threshold: float = 0.5
    threads: int | None = None
    max_frames: int | None = None
    save: Path | None = None
    save_json: Path | None = None
    drop_frames: bool | None = None  # None: drop for live sources only
    strict: bool = False
    sinks: list[str] = field(default_factory=list)  # plugin sinks as "[PLUGIN:]NAME:TARGET"
    settings: list[str] = field(default_factory=list)  # pipeline options as "[PIPELINE.]KEY=VALUE"
    extra: dict[str, Any] = field(default_factory=dict)  # the same, already typed (Python callers)


def build_stages(registry: Registry, config: RunConfig) -> list[Stage]:
    """The selected pipelines' stages, chained in order; none (frames only) without ``--plugin``.

    ``--plugin faces,objects`` runs the faces stages, then the objects stages on their boxes; ``--model``
    goes to the last pipeline of the chain (the others use their default models); each pipeline gets the
    ``--set`` options it declares, typed, with its defaults filled.
    """
    if config.plugin is None:
        for flag, given in (("--model", config.model), ("--set", config.settings or config.extra)):
            if given:
                raise XnorvisionError(f"{flag} needs --plugin NAME, the pipeline it is for")
        return []
    names = [n.strip() for n in config.plugin.split(",")]
    specs = [registry.pipeline(n) for n in names]  # every name checked before anything loads
    declared = {n: s.options for n, s in zip(names, specs, strict=True)}
    aliases = _pipeline_aliases(registry, names, specs)
    extras = parse_settings(config.settings, declared, config.extra, aliases)
    if config.model is not None:
        registry.resolve_model(config.model)  # a clear error now rather than inside the plugin
    stages: list[Stage] = []
    for i, (name, spec) in enumerate(zip(names, specs, strict=True)):
        model = config.model if i == len(specs) - 1 else None
        options = PipelineOptions(threshold=config.threshold, threads=config.threads, model=model,
                                  extra=extras[name])
        stages.extend(_build_one(spec, options))
    return stages


def _pipeline_aliases(registry: Registry, names: list[str], specs: list[PipelineSpec]) -> dict[str, str]:
    """Each chain entry's other names (bare ``birds``, qualified ``birds:birds``) -> the name as written,
    so ``--set birds.top_k=1`` reaches ``--plugin birds:birds`` and the other way round."""
    aliases: dict[str, set[str]] = {}
    for name, spec in zip(names, specs, strict=True):
        for alias in (spec.name, f"{registry.owner_of('pipelines', spec)}{SEP}{spec.name}"):
            aliases.setdefault(alias, set()).add(name)
    # a bare name two entries share (vehicles:shared,boats:shared) names neither
    return {alias: next(iter(n)) for alias, n in aliases.items() if len(n) == 1 and alias not in names}


def build_pipeline(registry: Registry, config: RunConfig) -> Pipeline:
    """The chain ``config.plugin`` names, built and held to the pipeline contract at ``config.threshold``."""
    if not 0.0 <= config.threshold <= 1.0:  # written so that NaN fails too
        raise XnorvisionError(f"--threshold {config.threshold}: must be between 0 and 1")
    return Pipeline(build_stages(registry, config), config.threshold)


def _build_one(spec: PipelineSpec, options: PipelineOptions) -> list[Stage]:
    try:
        stages = list(spec.build(options))
    except XnorvisionError:
        raise
    except PLUGIN_FAILURES as exc:  # plugin code: report it as the plugin's failure, in one line
        raise PluginError(f"pipeline {spec.name!r} failed to build: {type(exc).__name__}: {exc}") from exc
    for stage in stages:
        if not isinstance(stage, Stage):
            raise PluginError(f"pipeline {spec.name!r} returned {stage!r}, which is not a Stage "
                              "(a callable with a name)")
    return stages


def open_plugin_sink(registry: Registry, item: str) -> Sink:
    """``--sink [PLUGIN:]NAME:TARGET``: the plugin sink ``NAME`` opened on ``TARGET``.

    ``vehicles:csv:out.csv`` is sink ``csv`` of plugin ``vehicles`` (always works); ``csv:out.csv`` is the
    sink ``csv`` while only one plugin registers that name. Its errors are reported with both names.
    """
    name, target = registry.split_sink(item)
    spec = registry.sink(name)
    label = f"sink {spec.name!r} of plugin {registry.owner('sinks', name)!r}"
    try:
        sink = spec.open(target)
    except XnorvisionError:
        raise
    except PLUGIN_FAILURES as exc:  # plugin code: its failure, in one line
        raise PluginError(f"{label} cannot open {target!r}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(sink, Sink):
        raise PluginError(f"{label} returned {type(sink).__name__}, which lacks write/close")
    return GuardedSink(sink, label)


def check_run_paths(registry: Registry, config: RunConfig) -> None:
    """No output is an input (the source's files, the model, any registered model) or another output."""
    inputs: list[Named] = [("--source", p) for p in source_files(config.source, registry)]
    if config.model is not None and config.plugin is not None:  # without --plugin, build_stages says so
        inputs.append(("--model", registry.resolve_model(config.model)))
    inputs += [(f"model {name!r}", spec.path) for name, spec in registry.qualified("models").items()]
    outputs: list[Named] = [("--save", config.save), ("--save-json", config.save_json)]
    for item in config.sinks:
        name, target = registry.split_sink(item)
        if target and "://" not in target:  # a sink target that names a local file
            outputs.append((f"--sink {name}", target))
    check_outputs(inputs, outputs)


def prepare(registry: Registry, config: RunConfig) -> Runner:
    """A runner wired from ``config``; the caller runs it (headless) or hands it to the window."""
    check_run_paths(registry, config)
    if config.threads is not None:
        if config.threads < 1:
            raise XnorvisionError(f"--threads {config.threads}: must be at least 1")
        cv2.setNumThreads(usable_threads(config.threads))
    size = parse_size(config.size) if config.size else None
    pipeline = build_pipeline(registry, config)
    source = open_source(config.source, camera=config.camera, size=size, registry=registry)
    sinks: list[Sink] = []
    try:
        if config.save is not None:
            sinks.append(VideoSink(config.save, getattr(source, "fps", None)))
        if config.save_json is not None:
            sinks.append(JsonlSink(config.save_json))
        sinks.extend(open_plugin_sink(registry, item) for item in config.sinks)
    except XnorvisionError:
        source.close()
        for sink in sinks:
            sink.close()
        raise
    return Runner(source, pipeline, sinks, drop_frames=config.drop_frames,
                  strict=config.strict, max_frames=config.max_frames)
