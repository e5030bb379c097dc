"""The registry: everything the loaded plugins registered, looked up by name, plus what each plugin did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnorvision.errors import PluginError, XnorvisionError
from xnorvision.plugins.specs import ModelSpec, PipelineSpec, SinkSpec, SourceSpec

#: hook name -> (kind, the spec type its register callback accepts)
KINDS: dict[str, tuple[str, type]] = {
    "xnorvision_register_models": ("models", ModelSpec),
    "xnorvision_register_pipelines": ("pipelines", PipelineSpec),
    "xnorvision_register_sources": ("sources", SourceSpec),
    "xnorvision_register_sinks": ("sinks", SinkSpec),
}


@dataclass
class PluginInfo:
    """One plugin as ``xnorvision plugins`` reports it: what it registered, or why it did not load."""

    name: str
    version: str | None = None
    models: list[str] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "models": list(self.models),
            "pipelines": list(self.pipelines),
            "sources": list(self.sources),
            "sinks": list(self.sinks),
            "error": self.error,
        }


class Registry:
    """Named models, pipelines, sources and sinks from every plugin that loaded."""

    def __init__(self) -> None:
        self.models: dict[str, ModelSpec] = {}
        self.pipelines: dict[str, PipelineSpec] = {}
        self.sources: dict[str, SourceSpec] = {}
        self.sinks: dict[str, SinkSpec] = {}
        self.plugins: list[PluginInfo] = []
        self._owner: dict[tuple[str, str], str] = {}

    def table(self, kind: str) -> dict[str, Any]:
        return getattr(self, kind)

    def check_free(self, kind: str, name: str, plugin: str) -> None:
        """A name another plugin already took is the later plugin's error."""
        if name in self.table(kind):
            owner = self._owner[(kind, name)]
            raise PluginError(
                f"plugin {plugin!r} registers {kind[:-1]} {name!r}, already registered by {owner!r}"
            )

    def add(self, kind: str, spec: Any, plugin: str) -> None:
        self.check_free(kind, spec.name, plugin)
        self.table(kind)[spec.name] = spec
        self._owner[(kind, spec.name)] = plugin

    def pipeline(self, name: str) -> PipelineSpec:
        """The pipeline ``--plugin NAME`` selects, or an error listing the ones that exist."""
        if name in self.pipelines:
            return self.pipelines[name]
        broken = [p for p in self.plugins if p.error and p.name == name]
        if broken:
            raise PluginError(f"plugin {name!r} failed to load: {broken[0].error} (see `xnorvision plugins`)")
        known = ", ".join(sorted(self.pipelines)) or "none installed"
        raise PluginError(f"unknown pipeline {name!r} (available: {known}); "
                          "install a plugin that provides it, e.g. `pip install xnorvision-<name>`")

    def source_for(self, spec: str) -> SourceSpec | None:
        """The plugin source whose prefix matches ``spec`` (longest prefix wins), if any."""
        matches = [s for s in self.sources.values() if spec.startswith(s.prefix)]
        return max(matches, key=lambda s: len(s.prefix)) if matches else None

    def resolve_model(self, name_or_path: str | Path) -> Path:
        """A registered model's file, or ``name_or_path`` itself when it is an existing file."""
        key = str(name_or_path)
        if key in self.models:
            path = Path(self.models[key].path)
            if not path.is_file():
                raise PluginError(f"model {key!r} is registered but its file {path} is missing; "
                                  "reinstall its plugin")
            return path
        path = Path(key).expanduser()
        looks_like_path = bool(path.suffix) or "/" in key or "\\" in key
        if path.is_file() or (looks_like_path and path.exists()):
            return path  # a device or pipe: the loader says it is not a regular file
        if looks_like_path:
            raise XnorvisionError(f"model file not found: {key}")
        known = ", ".join(sorted(self.models)) or "none registered"
        raise PluginError(f"unknown model {key!r} (registered: {known}); "
                          "pass a registered name or a path to a .xnv file")
