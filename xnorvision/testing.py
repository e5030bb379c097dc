"""pytest fixtures for plugin authors (loaded through the ``pytest11`` entry point).

They run what users run: the same plugin loading, chain building and :class:`~xnorvision.pipeline.Pipeline`
as ``xnorvision run``.

- ``xnv_registry(*plugins)``: a registry holding only the given plugin modules/objects (no entry-point
  discovery, strict, so a broken hook fails the test instead of being skipped).
- ``synth_source(count=30, size=(320, 240))``: a :class:`~xnorvision.pipeline.SynthSource`.
- ``run_pipeline(registry, chain, frames=10, size=(320, 240), source=None, sinks=(), threshold=0.5,
  threads=None, model=None, extra=None)``: run a registered pipeline or chain (``"faces,birds"``) as
  ``xnorvision run --plugin CHAIN`` does, on ``synth:FRAMES`` or a plugin ``source``, into plugin ``sinks``
  (``"NAME:TARGET"``); returns every :class:`~xnorvision.pipeline.FrameResult`.
- ``xnv_cli(*args, plugins=(...))``: run ``xnorvision ARGS`` in-process in a fresh working folder with
  exactly ``plugins`` installed; returns a :class:`CliResult` (exit code, stdout, stderr, written files).
- ``tiny_model``: path to a small valid ``.xnv`` classifier (labels cat, dog, face; 16x16 input) whose
  output is logits, like every model ``xnorvision train`` exports.
- ``synth_face_list``: ``list.txt`` of 8 synthetic frames saved as PNGs beside it, with their drawn
  faces as boxes: a labelled set for ``xnorvision eval faces --data LIST --root LIST_FOLDER``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from xnorvision._opencv import opencv_name
from xnorvision.pipeline._result import FrameResult
from xnorvision.pipeline._synth import SynthSource
from xnorvision.plugins import _manager
from xnorvision.plugins._manager import load_registry
from xnorvision.plugins._registry import Registry


class _Collect:
    """A sink that keeps results in memory (tests only: it grows with the run)."""

    def __init__(self) -> None:
        self.results: list[FrameResult] = []

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


def plugin_name(plugin: Any) -> str:
    """The name users see for ``plugin``: its entry point's, so ``birds:csv`` means in a test what it means
    after ``pip install`` (the name of the installed entry point pointing at this module, else the
    template's ``xnorvision_traffic_signs`` -> ``traffic-signs``; an object: its ``__name__`` or class name).
    """
    return _name_and_version(plugin)[0]


def _name_and_version(plugin: Any) -> tuple[str, str | None]:
    module = getattr(plugin, "__name__", type(plugin).__name__)
    for ep in metadata.entry_points(group=_manager.ENTRY_POINT_GROUP):
        if ep.value == module:
            return ep.name, ep.dist.version if ep.dist is not None else None
    prefix = "xnorvision_"
    return (module.removeprefix(prefix).replace("_", "-") if module.startswith(prefix) else module), None


def _named(plugins: Iterable[Any]) -> list[tuple[str, Any]]:
    return [(plugin_name(p), p) for p in plugins]


def make_registry(*plugins: Any) -> Registry:
    """A strict registry of exactly these plugins, each named as ``xnorvision plugins`` names it."""
    return load_registry(_named(plugins), discover=False, strict=True, disabled=())


def run_registered_pipeline(
    registry: Registry,
    chain: str,
    frames: int = 10,
    size: tuple[int, int] = (320, 240),
    *,
    source: str | None = None,
    sinks: Sequence[str] = (),
    threshold: float = 0.5,
    threads: int | None = None,
    model: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[FrameResult]:
    """``xnorvision run --plugin CHAIN`` on ``synth:FRAMES`` (or ``source``, at most ``frames`` frames).

    Stops on the first stage error (``--strict``), so a failing stage fails the test.
    """
    from xnorvision.pipeline._launch import RunConfig, prepare

    config = RunConfig(source=source or f"synth:{frames}", size=None if source else f"{size[0]}x{size[1]}",
                       plugin=chain, model=model, threshold=threshold, threads=threads, max_frames=frames,
                       drop_frames=False, strict=True, sinks=list(sinks), extra=dict(extra or {}))
    runner = prepare(registry, config)
    collect = _Collect()
    runner.sinks.append(collect)
    runner.run()
    return collect.results


@contextmanager
def _warnings_on_stderr(debug: bool) -> Iterator[None]:
    """Log records on this command's stderr, formatted as the CLI prints them.

    The CLI's ``logging.basicConfig`` does nothing under pytest (pytest's capture handlers are already on
    the root logger), so without this a run's warnings ("stage 'x' failed on frame 0") were missing from
    ``CliResult.stderr`` while the user would see them.
    """
    from xnorvision.cli._run import LOG_FORMAT

    handler = logging.StreamHandler(sys.stderr)  # capsys's stream, read back after the command
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


@dataclass(frozen=True)
class CliResult:
    """What one in-process ``xnorvision`` command did; ``files`` are those it wrote under its folder."""

    exit_code: int
    stdout: str
    stderr: str
    cwd: Path
    files: dict[str, Path]


@pytest.fixture
def xnv_registry() -> Callable[..., Registry]:
    return make_registry


@pytest.fixture
def synth_source() -> Callable[..., SynthSource]:
    return SynthSource


@pytest.fixture
def run_pipeline() -> Callable[..., list[FrameResult]]:
    return run_registered_pipeline


@pytest.fixture
def xnv_cli(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., CliResult]]:
    """Run ``xnorvision ARGS`` in-process (as pytest's ``pytester.runpytest_inprocess`` does).

    ``plugins`` are the plugin modules/objects installed for the command (entry-point discovery is
    replaced, strict loading off, as for a user). Each command runs in a fresh working folder; relative
    output paths land there and come back in ``CliResult.files`` (relative path -> absolute path).
    """
    from xnorvision.cli import main

    def run(*args: str | os.PathLike[str], plugins: Iterable[Any] = ()) -> CliResult:
        installed = [(*_name_and_version(obj), (lambda obj=obj: obj)) for obj in plugins]
        monkeypatch.setattr(_manager, "_entry_point_plugins", lambda: installed)
        monkeypatch.delenv("XNORVISION_STRICT_PLUGINS", raising=False)
        monkeypatch.delenv("XNORVISION_DISABLE_PLUGINS", raising=False)
        cwd = tmp_path_factory.mktemp("xnv_cli")
        monkeypatch.chdir(cwd)
        capsys.readouterr()  # only this command's output
        argv = [os.fspath(a) for a in args]
        with _warnings_on_stderr(debug="--debug" in argv):
            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        files = {p.relative_to(cwd).as_posix(): p for p in sorted(cwd.rglob("*")) if p.is_file()}
        return CliResult(code, out, err, cwd, files)

    yield run


def write_face_list(folder: str | Path, count: int = 8, size: tuple[int, int] = (320, 240),
                    seed: int = 0) -> Path:
    """``count`` frames of ``synth:`` as PNGs in ``folder`` and ``list.txt`` naming them with their faces
    (``path x,y,w,h ...``, the list format ``eval faces`` reads): a labelled face set made from nothing."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = SynthSource(count, size, seed)
    lines = []
    for i in range(count):
        cv2.imwrite(opencv_name(folder / f"synth{i:03d}.png"), source.frame(i))
        xywh = [f"{x1:g},{y1:g},{x2 - x1:g},{y2 - y1:g}" for x1, y1, x2, y2 in source.face_boxes(i)]
        lines.append(" ".join([f"synth{i:03d}.png", *xywh]))
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    return folder / "list.txt"


@pytest.fixture
def synth_face_list(tmp_path: Path) -> Path:
    return write_face_list(tmp_path / "synth_faces")


def write_tiny_model(
    path: str | Path, labels: tuple[str, ...] = ("cat", "dog", "face"), seed: int = 0
) -> Path:
    """A valid 3-class ``.xnv`` classifier on 16x16 BGR input: sign -> binary conv -> pool -> linear.

    Its output is ``logits`` (declared so in the graph), like every model ``xnorvision train`` exports, so
    a stage that forgets ``Model.probabilities`` shows scores outside [0, 1] in its tests.
    """
    from xnorvision.runtime import save_model

    rng = np.random.default_rng(seed)
    k, classes = 8, len(labels)
    graph = {"inputs": ["input"], "outputs": ["logits"], "output_kinds": {"logits": "logits"}, "nodes": [
        {"name": "sign", "op": "sign", "inputs": ["input"], "attrs": {}},
        {"name": "conv", "op": "binary_conv2d", "inputs": ["sign"],
         "attrs": {"kernel": [3, 3], "stride": 1, "padding": "same", "pad_value": 0, "in_channels": 3,
                   "out_channels": k, "output": "float"}},
        {"name": "pool", "op": "global_avgpool", "inputs": ["conv"], "attrs": {}},
        {"name": "logits", "op": "linear", "inputs": ["pool"],
         "attrs": {"in_features": k, "out_features": classes}},
    ]}
    tensors = {
        "conv.weight": rng.integers(0, 8, (k, 3, 3, 1), dtype=np.uint64),  # 3 channels: low 3 bits only
        "conv.scale": rng.uniform(0.5, 1.5, k).astype(np.float32),
        "conv.bias": rng.normal(0, 1, k).astype(np.float32),
        "logits.weight": rng.normal(0, 1.0, (classes, k)).astype(np.float32),
        "logits.bias": np.zeros(classes, np.float32),
    }
    spec = {"height": 16, "width": 16, "channels": 3, "channel_order": "rgb",
            "mean": [0.5] * 3, "std": [0.25] * 3}
    return save_model(path, graph, tensors, spec, list(labels), {"purpose": "xnorvision.testing tiny model"})


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "tiny.xnv")
