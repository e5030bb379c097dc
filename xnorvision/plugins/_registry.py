"""The registry: everything the loaded plugins registered, looked up by name, plus what each plugin did.

Names are namespaced by plugin: ``vehicles:csv`` always names the sink ``csv`` of plugin ``vehicles``; the
bare ``csv`` works while exactly one plugin registers it. When two plugins register the same name, only
that bare name stops working (a warning names both); everything else of both plugins stays, and the
outcome does not depend on the order in which the plugins loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xnorvision.errors import PluginError, XnorvisionError
from xnorvision.plugins._specs import ModelSpec, PipelineSpec, SinkSpec, SourceSpec

log = logging.getLogger(__name__)
#: hook name -> (kind, the spec type its register callback accepts)
KINDS: dict[str, tuple[str, type]] = {
    "xnorvision_register_models": ("models", ModelSpec),
    "xnorvision_register_pipelines": ("pipelines", PipelineSpec),
    "xnorvision_register_sources": ("sources", SourceSpec),
    "xnorvision_register_sinks": ("sinks", SinkSpec),
}
SEP = ":"


@dataclass
class PluginInfo:
    """One plugin as ``xnorvision plugins`` reports it: what it registered, or why it did not load."""

    name: str
    version: str | None = None
    models: list[str] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # pipeline -> its options
    error: str | None = None
    warning: str | None = None

    def warn(self, message: str) -> None:
        self.warning = message if self.warning is None else f"{self.warning}; {message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "models": list(self.models),
            "pipelines": list(self.pipelines),
            "sources": list(self.sources),
            "sinks": list(self.sinks),
            "options": {k: list(v) for k, v in self.options.items()},
            "error": self.error,
            "warning": self.warning,
        }


class Registry:
    """Named models, pipelines, sources and sinks from every plugin that loaded.

    The public tables (``models``, ``pipelines``, ``sources``, ``sinks``) hold the names that work bare;
    :meth:`get` also takes ``plugin:name``.
    """

    def __init__(self) -> None:
        self.models: dict[str, ModelSpec] = {}
        self.pipelines: dict[str, PipelineSpec] = {}
        self.sources: dict[str, SourceSpec] = {}
        self.sinks: dict[str, SinkSpec] = {}
        self.plugins: list[PluginInfo] = []
        self._qualified: dict[str, dict[str, Any]] = {kind: {} for kind, _ in KINDS.values()}
        self._owners: dict[tuple[str, str], list[str]] = {}  # (kind, bare name) -> plugins, sorted

    def table(self, kind: str) -> dict[str, Any]:
        return getattr(self, kind)

    def add(self, kind: str, spec: Any, plugin: str) -> None:
        """Register ``spec`` as ``plugin:name``, and bare while no other plugin has the name."""
        self._qualified[kind][f"{plugin}{SEP}{spec.name}"] = spec
        owners = self._owners.setdefault((kind, spec.name), [])
        owners.append(plugin)
        owners.sort()
        if len(owners) == 1:
            self.table(kind)[spec.name] = spec
            return
        self.table(kind).pop(spec.name, None)
        message = (f"{kind[:-1]} {spec.name!r} is registered by plugins {_and(owners)}; the bare name is "
                   f"disabled, use {_or([f'{o}{SEP}{spec.name}' for o in owners])}")
        log.warning("%s", message)
        for info in self.plugins:
            if info.name in owners:
                info.warn(message)

    def qualified(self, kind: str) -> dict[str, Any]:
        """Every spec of ``kind`` by its ``plugin:name``, shared names included."""
        return dict(self._qualified[kind])

    def owner(self, kind: str, name: str) -> str:
        """The plugin that registered ``name`` (bare or qualified) of ``kind``."""
        plugin, sep, _ = name.partition(SEP)
        if sep and name in self._qualified[kind]:
            return plugin
        return self._owners[(kind, name)][0]

    def owner_of(self, kind: str, spec: Any) -> str:
        """The plugin that registered this very spec object."""
        return next(q.partition(SEP)[0] for q, s in self._qualified[kind].items() if s is spec)

    def get(self, kind: str, name: str) -> Any | None:
        """The spec ``name`` (bare or ``plugin:name``) of ``kind``; None if unknown; an error if ambiguous."""
        if name in self._qualified[kind]:
            return self._qualified[kind][name]
        owners = self._owners.get((kind, name), [])
        if len(owners) > 1:
            raise PluginError(f"{kind[:-1]} {name!r} is registered by plugins {_and(owners)}; write "
                              f"{_or([f'{o}{SEP}{name}' for o in owners])}")
        return self.table(kind).get(name)

    def names(self, kind: str) -> list[str]:
        """Names a user can type: bare where unique, qualified where several plugins share the name."""
        return sorted([n for (k, n), owners in self._owners.items() if k == kind and len(owners) == 1]
                      + [f"{o}{SEP}{n}" for (k, n), owners in self._owners.items()
                         if k == kind and len(owners) > 1 for o in owners])

    def pipeline(self, name: str) -> PipelineSpec:
        """The pipeline ``--plugin NAME`` selects, or an error listing the ones that exist."""
        spec = self.get("pipelines", name)
        if spec is not None:
            return spec
        broken = [p for p in self.plugins if p.error and p.name == name]
        if broken:
            raise PluginError(f"plugin {name!r} failed to load: {broken[0].error} (see `xnorvision plugins`)")
        known = ", ".join(self.names("pipelines")) or "none installed"
        raise PluginError(f"unknown pipeline {name!r} (available: {known}); "
                          "install a plugin that provides it, e.g. `pip install xnorvision-<name>`")

    def sink(self, name: str) -> SinkSpec:
        """The sink ``--sink NAME:TARGET`` selects, or an error listing the ones that exist."""
        spec = self.get("sinks", name)
        if spec is None:
            known = ", ".join(self.names("sinks")) or "none installed"
            raise PluginError(f"unknown sink {name!r} (available: {known})")
        return spec

    def split_sink(self, item: str) -> tuple[str, str]:
        """``--sink`` value -> (sink name, target): ``plugin:name:TARGET`` when ``plugin:name`` is a
        registered sink, else ``name:TARGET`` (the target may itself hold colons)."""
        first, sep, rest = item.partition(SEP)
        second, sep2, target = rest.partition(SEP)
        if sep2 and f"{first}{SEP}{second}" in self._qualified["sinks"]:
            return f"{first}{SEP}{second}", target
        if not sep or not first:
            raise XnorvisionError(f"--sink {item!r}: write NAME:TARGET or PLUGIN:NAME:TARGET, "
                                  "e.g. --sink mqtt:broker.local/topic")
        return first, rest

    def source_for(self, spec: str) -> SourceSpec | None:
        """The plugin source whose prefix matches ``spec`` (longest prefix wins), if any.

        Two plugins claiming the same longest prefix is an error naming both (never a silent pick).
        """
        matches = [(q, s) for q, s in self._qualified["sources"].items() if spec.startswith(s.prefix)]
        if not matches:
            return None
        longest = max(len(s.prefix) for _, s in matches)
        best = sorted((q, s) for q, s in matches if len(s.prefix) == longest)
        if len(best) > 1:
            raise PluginError(f"--source {spec!r}: prefix {best[0][1].prefix!r} is claimed by sources "
                              f"{_and([q for q, _ in best])}; disable one (XNORVISION_DISABLE_PLUGINS)")
        return best[0][1]

    def resolve_model(self, name_or_path: str | Path) -> Path:
        """A registered model's file, or ``name_or_path`` itself when it is an existing file."""
        key = str(name_or_path)
        spec = self.get("models", key)
        if spec is not None:
            path = Path(spec.path)
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
        known = ", ".join(self.names("models")) or "none registered"
        raise PluginError(f"unknown model {key!r} (registered: {known}); "
                          "pass a registered name or a path to a .xnv file")


def _and(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _or(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)
