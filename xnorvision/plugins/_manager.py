"""Load plugins safely: each entry point inside try/except, so one broken plugin never takes down the app.

pluggy does not isolate failures between plugins, so hooks are called one plugin at a time and a plugin's
registrations are kept only if all its hooks succeed. ``XNORVISION_STRICT_PLUGINS=1`` turns any failure
into an error (for CI); ``XNORVISION_DISABLE_PLUGINS=a,b`` skips plugins by entry point name.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from xnorvision import API_VERSION
from xnorvision.errors import PLUGIN_FAILURES, PluginError
from xnorvision.plugins import _hookspecs
from xnorvision.plugins._registry import KINDS, PluginInfo, Registry

if TYPE_CHECKING:
    from xnorvision.runtime import Model

ENTRY_POINT_GROUP = "xnorvision"
SLOW_LOAD_SECONDS = 3.0
log = logging.getLogger(__name__)
_current: Registry | None = None


def new_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager that knows our hook specs and has no plugins registered (no discovery)."""
    pm = pluggy.PluginManager(_hookspecs.PROJECT)
    pm.add_hookspecs(_hookspecs)
    return pm


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> set[str]:
    return {p.strip() for p in os.environ.get(name, "").split(",") if p.strip()}


def _entry_point_plugins() -> Iterable[tuple[str, str | None, Callable[[], Any]]]:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        version = ep.dist.version if ep.dist is not None else None
        yield ep.name, version, ep.load


def load_registry(
    plugins: Iterable[tuple[str, Any]] = (),
    *,
    discover: bool = True,
    strict: bool | None = None,
    disabled: Iterable[str] | None = None,
) -> Registry:
    """Load entry-point plugins (unless ``discover=False``) and the given ``(name, plugin)`` objects.

    The result becomes the registry :func:`resolve_model` uses by default.
    """
    global _current
    strict = _env_flag("XNORVISION_STRICT_PLUGINS") if strict is None else strict
    skip = _env_list("XNORVISION_DISABLE_PLUGINS") if disabled is None else set(disabled)
    candidates: list[tuple[str, str | None, Callable[[], Any]]] = []
    if discover:
        candidates.extend(_entry_point_plugins())
    candidates.extend((name, None, (lambda obj=obj: obj)) for name, obj in plugins)

    pm = new_plugin_manager()
    registry = Registry()
    for name, version, load in candidates:
        info = PluginInfo(name=name, version=version)
        registry.plugins.append(info)
        if name in skip:
            info.error = "disabled by XNORVISION_DISABLE_PLUGINS"
            continue
        try:
            with _name_a_slow_load(name):
                _load_one(pm, registry, info, load)
        except PLUGIN_FAILURES as exc:  # a plugin is third-party code: any failure is its failure, not ours
            info.error = f"{type(exc).__name__}: {exc}"
            log.warning("plugin %r skipped: %s", name, info.error)
            if strict:
                raise PluginError(f"plugin {name!r} failed to load: {info.error} "
                                  "(XNORVISION_STRICT_PLUGINS is set)") from exc
    _current = registry
    return registry


@contextmanager
def _name_a_slow_load(name: str) -> Iterator[None]:
    """Warn, naming the plugin, when loading it takes over :data:`SLOW_LOAD_SECONDS`.

    A plugin that hangs at import hangs every command; this cannot stop it (an import cannot be
    interrupted), but it tells the user which plugin to disable.
    """
    timer = threading.Timer(SLOW_LOAD_SECONDS, log.warning, (
        "still loading plugin %r after %g s; if it hangs, skip it with XNORVISION_DISABLE_PLUGINS=%s",
        name, SLOW_LOAD_SECONDS, name))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _load_one(
    pm: pluggy.PluginManager, registry: Registry, info: PluginInfo, load: Callable[[], Any]
) -> None:
    plugin = load()
    pm.register(plugin, name=info.name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        pm.unregister(name=info.name)
        raise
    _check_api_version(plugin, info)
    staged: list[tuple[str, Any]] = []
    for hook_name, (kind, spec_type) in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == info.name:
                impl.function(**_hook_kwargs(impl.argnames, _collector(staged, kind, spec_type, info.name)))
    for kind, spec in staged:  # all hooks succeeded: keep everything (a shared name loses only its bare form)
        registry.add(kind, spec, info.name)
        getattr(info, kind).append(spec.name)
        if kind == "pipelines":
            info.options[spec.name] = [option.to_json() for option in spec.options]


def _hook_kwargs(argnames: tuple[str, ...], register: Callable[[Any], None]) -> dict[str, Any]:
    return {"register": register} if "register" in argnames else {}


def _collector(
    staged: list[tuple[str, Any]], kind: str, spec_type: type, plugin: str
) -> Callable[[Any], None]:
    def register(spec: Any) -> None:
        if not isinstance(spec, spec_type):
            raise PluginError(f"plugin {plugin!r} passed {type(spec).__name__} to register in "
                              f"xnorvision_register_{kind}; expected {spec_type.__name__}")
        if any(k == kind and s.name == spec.name for k, s in staged):
            raise PluginError(f"plugin {plugin!r} registers {kind[:-1]} {spec.name!r} twice")
        _check_spec_names(plugin, kind, spec)
        staged.append((kind, spec))

    return register


#: a name users can type: no ',' (chains), ':' (plugin:name, NAME:TARGET) or spaces
_SPEC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: a source prefix starts with a URL scheme (``rtsp://``, ``x://``, ``birds:``; one letter only with
#: ``//``), so it never claims file paths (``""``, ``/``, ``photos``) nor Windows drives (``C:``)
_SOURCE_PREFIX = re.compile(r"^[A-Za-z](?:[A-Za-z0-9+.-]*://|[A-Za-z0-9+.-]+:)")


def _check_spec_names(plugin: str, kind: str, spec: Any) -> None:
    """Refuse a name ``--plugin``/``--sink``/``--model`` could never select, and a source prefix that would
    silently take over every ``--source`` path (plugin sources are looked up before files)."""
    if not isinstance(spec.name, str) or not _SPEC_NAME.match(spec.name):
        raise PluginError(f"plugin {plugin!r} registers {kind[:-1]} {spec.name!r}: a name is letters, "
                          "digits, '.', '_' and '-' (no ',', ':' or spaces)")
    if kind == "sources" and (not isinstance(spec.prefix, str) or not _SOURCE_PREFIX.match(spec.prefix)):
        raise PluginError(f"plugin {plugin!r} registers source {spec.name!r} with prefix {spec.prefix!r}: "
                          "a prefix starts with a scheme such as 'rtsp://' or 'birds:', so it never "
                          "claims file paths")


def _check_api_version(plugin: Any, info: PluginInfo) -> None:
    wanted = getattr(plugin, "XNORVISION_API_VERSION", None)
    if isinstance(wanted, int) and wanted > API_VERSION:
        info.warning = (f"plugin {info.name!r} targets plugin API {wanted} but this xnorvision has API "
                        f"{API_VERSION}; upgrade xnorvision (`pip install -U xnorvision`)")
        log.warning("%s", info.warning)


def current_registry() -> Registry:
    """The last registry loaded, or a fresh one with entry-point discovery."""
    return _current if _current is not None else load_registry()


def resolve_model(name_or_path: str | os.PathLike[str], registry: Registry | None = None) -> Path:
    """The file of a registered model name, or the given path when it is an existing file.

    Without ``registry`` it looks in the last registry loaded (the one the running app or test built).
    """
    return (registry or current_registry()).resolve_model(os.fspath(name_or_path))


def load_model(name_or_path: str | os.PathLike[str], threads: int | None = None,
               registry: Registry | None = None) -> Model:
    """Resolve like :func:`resolve_model`, then load and validate the ``.xnv`` file."""
    from xnorvision.runtime import Model

    return Model.load(resolve_model(name_or_path, registry), threads=threads)
