"""What plugins register: small frozen records.

``Stage`` and ``PipelineOptions`` live in the core (:mod:`xnorvision.pipeline._contract`) and are re-exported
here so older imports keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xnorvision.pipeline._contract import PipelineOptions, Stage
from xnorvision.plugins._options import Option

__all__ = ["ModelSpec", "PipelineOptions", "PipelineSpec", "SinkSpec", "SourceSpec", "Stage"]


@dataclass(frozen=True)
class ModelSpec:
    """A named ``.xnv`` file shipped by a plugin; ``--model NAME`` resolves to it."""

    name: str
    path: Path
    description: str = ""


@dataclass(frozen=True)
class PipelineSpec:
    """A named pipeline: ``build(options)`` returns its stages (proposal stage first).

    ``options`` declares what ``--set NAME=VALUE`` may set; ``build`` finds the typed values (defaults
    filled) in ``options.extra``.
    """

    name: str
    build: Callable[[PipelineOptions], Sequence[Stage]]
    description: str = ""
    models: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()

    def __post_init__(self) -> None:
        """Options are ``Option`` records with distinct names (``--set`` could set only one of two)."""
        options = tuple(self.options)
        names = [o.name for o in options if isinstance(o, Option)]
        if len(names) != len(options):
            wrong = next(type(o).__name__ for o in options if not isinstance(o, Option))
            raise TypeError(f"pipeline {self.name!r}: options must be Option records, got a {wrong}")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"pipeline {self.name!r} declares option {', '.join(twice)} twice")
        object.__setattr__(self, "options", options)


@dataclass(frozen=True)
class SourceSpec:
    """An extra frame source: ``--source`` values starting with ``prefix`` are opened by ``open``."""

    name: str
    prefix: str
    open: Callable[[str], Any]
    description: str = ""


@dataclass(frozen=True)
class SinkSpec:
    """An extra output, selected by name; ``open(target)`` returns a sink object."""

    name: str
    open: Callable[[str], Any]
    description: str = ""
