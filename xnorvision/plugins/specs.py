"""What plugins register: small frozen records and the ``Stage`` protocol a pipeline is made of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from xnorvision.detect.detections import Detections
from xnorvision.plugins._options import Option


@runtime_checkable
class Stage(Protocol):
    """One step of a pipeline.

    It reads a BGR uint8 frame (as OpenCV gives it) and the detections of the previous stage (empty for the
    first) and returns new detections. A proposal stage returns candidate boxes; an object stage classifies
    the given boxes (or the frame's centre crop when there are none).
    """

    name: str

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections: ...


@dataclass(frozen=True)
class ModelSpec:
    """A named ``.xnv`` file shipped by a plugin; ``--model NAME`` resolves to it."""

    name: str
    path: Path
    description: str = ""


@dataclass(frozen=True)
class PipelineOptions:
    """What the user chose on the command line, passed to a pipeline's ``build``."""

    threshold: float = 0.5
    threads: int | None = None
    model: str | None = None  # a registered model name or a path, overriding the pipeline's default
    extra: dict[str, Any] = field(default_factory=dict)


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
