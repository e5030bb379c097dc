"""Pipeline options: what a pipeline declares (``Option``) and the one parser ``--set KEY=VALUE`` uses.

``xnorvision run --set`` and ``xnorvision eval faces --set`` both go through :func:`parse_settings`, so
a key or value is accepted or refused the same way everywhere, before any model loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from xnorvision.errors import XnorvisionError

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_bool(text: str) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case)."""
    value = text.strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ValueError("expected true or false")


def model_or_off(text: str) -> str | bool:
    """A model name or ``.xnv`` path; ``false``/``off`` to skip the stage that uses it, ``true`` for its
    default model."""
    value = text.strip().lower()
    return value in _TRUE if value in _TRUE | _FALSE else text


_PARSERS: dict[Any, Callable[[str], Any]] = {bool: parse_bool}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
#: what a default of a built-in option type must be (an int is a fine float; None means "not set")
_DEFAULT_TYPES: dict[Any, type | tuple[type, ...]] = {bool: bool, int: int, float: (int, float), str: str}
_TYPE_NAMES: dict[Any, str] = {bool: "bool", int: "int", float: "float", str: "str"}


@dataclass(frozen=True)
class Option:
    """One option of a pipeline, set with ``--set NAME=VALUE`` and read from ``PipelineOptions.extra``.

    ``type`` is ``bool``, ``int``, ``float``, ``str`` or any function that turns the text into the value
    (raising ``ValueError`` on a bad one); ``default`` is what ``extra[name]`` holds when not set: of that
    type for the built-in ones (an int for a float is made a float), or None.
    """

    name: str
    type: Callable[[str], Any]
    default: Any
    help: str = ""

    def __post_init__(self) -> None:
        """Refuse a declaration ``--set`` could never honour, when the plugin loads (the manager lists the
        plugin's error) instead of letting ``build`` receive a default of the wrong type."""
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"Option name {self.name!r}: use letters, digits, '_' or '-', starting with a "
                             "letter ('.' and '=' separate pipeline, key and value in --set)")
        if not callable(self.type):
            raise TypeError(f"Option {self.name!r}: type {self.type!r} is not callable; give bool, int, "
                            "float, str or a function from the text to the value")
        wanted = _DEFAULT_TYPES.get(self.type)
        if wanted is None or self.default is None:
            return
        if isinstance(self.default, bool) != (self.type is bool) or not isinstance(self.default, wanted):
            raise TypeError(f"Option {self.name!r}: default {self.default!r} is not a {self.type_name}")
        if self.type is float:
            object.__setattr__(self, "default", float(self.default))  # 0 -> 0.0: build gets a float

    def parse(self, text: str) -> Any:
        try:
            return _PARSERS.get(self.type, self.type)(text)
        except (TypeError, ValueError) as exc:
            raise XnorvisionError(f"--set {self.name}={text}: bad value for {self.type_name} option "
                                  f"{self.name!r} ({exc})") from None

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, getattr(self.type, "__name__", "value"))

    def to_json(self) -> dict[str, Any]:
        default = self.default if isinstance(self.default, (bool, int, float, str, type(None))) else repr(
            self.default)
        return {"name": self.name, "type": self.type_name, "default": default, "help": self.help}


def split_settings(settings: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings -> {key: text}; a malformed item is an error."""
    pairs: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise XnorvisionError(f"--set takes KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value
    return pairs


def parse_settings(
    settings: Iterable[str],
    declared: Mapping[str, tuple[Option, ...]],
    typed: Mapping[str, Any] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """``--set`` items for a chain of pipelines -> each pipeline's typed ``extra``, defaults filled.

    ``declared`` maps each pipeline of the chain to its options. A bare key goes to every pipeline that
    declares it; ``PIPELINE.KEY`` to that one only, ``PIPELINE`` being a key of ``declared`` or of
    ``aliases`` (another name of it: ``birds`` and ``birds:birds`` both name the pipeline however
    ``--plugin`` wrote it). A key no pipeline declares is an error listing the ones that exist. ``typed``
    holds values a Python caller already typed (the fixtures' ``extra``): routed and checked the same way,
    not parsed.
    """
    extras = {name: {o.name: o.default for o in options} for name, options in declared.items()}
    items = [(k, v, True) for k, v in split_settings(settings).items()]
    items += [(k, v, False) for k, v in (typed or {}).items()]
    for key, value, is_text in items:
        target, dot, bare = key.rpartition(".")
        target = (aliases or {}).get(target, target)
        targets = [target] if dot and target in declared else list(declared)
        name = bare if dot and target in declared else key
        hits = [(p, o) for p in targets for o in declared[p] if o.name == name]
        if not hits:
            known = ", ".join(sorted({o.name for p in targets for o in declared[p]})) or "none"
            where = " and ".join(targets) or "no pipeline"
            raise XnorvisionError(f"--set {key}: unknown option for {where} (options: {known})")
        for pipeline, option in hits:
            extras[pipeline][name] = option.parse(value) if is_text else value
    return extras
