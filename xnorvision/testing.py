"""pytest fixtures for plugin authors (loaded through the ``pytest11`` entry point).

- ``xnv_registry(*plugins)``: a registry holding only the given plugin modules/objects (no entry-point
  discovery, strict, so a broken hook fails the test instead of being skipped).
- ``synth_source(count=30, size=(320, 240))``: a :class:`~xnorvision.pipeline.SynthSource`.
- ``run_pipeline(registry, name, frames=10, **options)``: build a registered pipeline and run it on
  synthetic frames, returning every :class:`~xnorvision.pipeline.FrameResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xnorvision.pipeline.result import FrameResult
from xnorvision.pipeline.runner import Runner
from xnorvision.pipeline.synth import SynthSource
from xnorvision.plugins._manager import load_registry
from xnorvision.plugins._registry import Registry
from xnorvision.plugins.specs import PipelineOptions


class _Collect:
    """A sink that keeps results in memory (tests only: it grows with the run)."""

    def __init__(self) -> None:
        self.results: list[FrameResult] = []

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


def make_registry(*plugins: Any) -> Registry:
    """A strict registry of exactly these plugins, named after their ``__name__`` (or class name)."""
    named = [(getattr(p, "__name__", type(p).__name__), p) for p in plugins]
    return load_registry(named, discover=False, strict=True, disabled=())


def run_registered_pipeline(
    registry: Registry, name: str, frames: int = 10, size: tuple[int, int] = (320, 240), **options: Any
) -> list[FrameResult]:
    """Build pipeline ``name`` with ``PipelineOptions(**options)``; run it on ``frames`` synthetic frames."""
    stages = registry.pipeline(name).build(PipelineOptions(**options))
    sink = _Collect()
    Runner(SynthSource(frames, size), stages, [sink], strict=True).run()
    return sink.results


@pytest.fixture
def xnv_registry() -> Callable[..., Registry]:
    return make_registry


@pytest.fixture
def synth_source() -> Callable[..., SynthSource]:
    return SynthSource


@pytest.fixture
def run_pipeline() -> Callable[..., list[FrameResult]]:
    return run_registered_pipeline
