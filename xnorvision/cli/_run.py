"""``xnorvision run``, ``plugins``, ``new-plugin``, ``cameras``, ``doctor``: parse, call the core, print."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer import Option as Opt

from xnorvision.cli._apps import State, app, threads_option
from xnorvision.errors import XnorvisionError

ALL_FRAMES_FAILED = 3  # the run ended but a stage failed on every frame
DebugOpt = Annotated[bool, Opt("--debug", hidden=True, help="Show full tracebacks on errors.")]


LOG_FORMAT = "%(levelname)s: %(message)s"  # warnings on stderr, as `xnorvision run` prints them


def _set_debug(debug: bool) -> None:
    State.debug = State.debug or debug
    logging.basicConfig(level=logging.DEBUG if State.debug else logging.WARNING, format=LOG_FORMAT,
                        stream=sys.stderr)


@app.command()
def run(
    source: Annotated[str | None, Opt("--source", help="Video, image, folder, glob, or synth:N.")] = None,
    camera: Annotated[int | None, Opt("--camera", help="Camera index (see `xnorvision cameras`).")] = None,
    size: Annotated[str | None, Opt("--size", help="Frame size WxH: a camera's mode; other sources' frames "
                                    "are scaled to fit inside it.")] = None,
    plugin: Annotated[str | None, Opt("--plugin", help="Pipeline(s), e.g. faces or faces,objects.")] = None,
    model: Annotated[str | None, Opt("--model", help="Registered model name or .xnv path (in a chain: the "
                                                    "last pipeline's).")] = None,
    threshold: Annotated[float, Opt("--threshold", help="Minimum score of a shown detection.")] = 0.5,
    threads: Annotated[int | None, threads_option("Threads for the kernels and OpenCV.")] = None,
    max_frames: Annotated[int | None, Opt("--max-frames", min=1, help="Stop after N frames.")] = None,
    headless: Annotated[bool, Opt("--headless", help="No window (automatic without a display).")] = False,
    save: Annotated[Path | None, Opt("--save", help="Annotated video (.mp4, .avi, .mkv).")] = None,
    save_json: Annotated[Path | None, Opt("--save-json", help="One JSON line per frame.")] = None,
    every_frame: Annotated[
        bool | None,
        Opt("--every-frame/--drop-frames", help="Process every frame, or only the newest (default: newest "
                                                "for cameras and streams, every frame for files)."),
    ] = None,
    strict: Annotated[bool, Opt("--strict", help="Stop on the first stage error.")] = False,
    sink: Annotated[list[str] | None, Opt("--sink", help="Plugin output [PLUGIN:]NAME:TARGET, e.g. "
                                          "csv:out.csv or vehicles:csv:out.csv (repeatable).")] = None,
    settings: Annotated[list[str] | None, Opt("--set", help="Pipeline option [PIPELINE.]KEY=VALUE "
                                              "(repeatable; `xnorvision plugins` lists them).")] = None,
    fast: Annotated[bool, Opt("--fast", help="In a window, run files as fast as possible instead of at "
                                             "their own frame rate.")] = False,
    profile: Annotated[bool, Opt("--profile", help="At the end, where each frame's time went: per stage, "
                                                   "model op kind and named step.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Run a pipeline on a camera, video, images or synthetic frames; show, save, or both.

    Exit codes: 0 done; 2 a bad argument, file, plugin, source or sink (one `error:` line); 3 a stage
    failed on every frame, so nothing was produced (`--strict` stops at the first failure instead, exit 2).
    """
    from xnorvision.pipeline._display import display_available, named_display
    from xnorvision.pipeline._launch import RunConfig, prepare
    from xnorvision.plugins import load_registry

    _set_debug(debug)
    if profile and plugin is None:
        raise XnorvisionError("--profile needs --plugin NAME, the pipeline to time")
    config = RunConfig(source=source, camera=camera, size=size, plugin=plugin, model=model,
                       threshold=threshold, threads=threads, max_frames=max_frames, save=save,
                       save_json=save_json, drop_frames=None if every_frame is None else not every_frame,
                       strict=strict, sinks=list(sink or []), settings=list(settings or []))
    windowed = not headless and named_display() is not None
    if windowed:
        from xnorvision.pipeline._doctor import GUI_INSTALL, qt_installed, window_problem

        if not qt_installed():
            typer.echo(f"warning: no window without PyQt5, running headless; for the window: {GUI_INSTALL}",
                       err=True)
            windowed = False
        elif problem := window_problem():
            raise XnorvisionError(problem)
        elif not display_available():
            windowed = False
            typer.echo(f"warning: display {named_display()} does not answer (no server there?); running "
                       "headless", err=True)
    registry = load_registry()
    runner = prepare(registry, config)
    if profile:
        from xnorvision.pipeline import PipelineProfile

        runner.pipeline.profile = PipelineProfile()
    names = ", ".join(s.name for s in runner.stages) or "none: showing frames only"
    chain = ",".join(n.strip() for n in plugin.split(",")) if plugin else "no pipeline"  # as prepare read it
    typer.echo(f"{runner.source.name} -> {chain} (stages: {names})", err=True)
    if not windowed:
        if sys.stderr.isatty():
            from xnorvision.pipeline._sinks import ProgressSink

            runner.sinks.append(ProgressSink(sys.stderr))
        summary = runner.run()
    else:
        from xnorvision.app import run_window
        from xnorvision.pipeline._pacing import play_in_real_time

        if not fast:
            runner.source = play_in_real_time(runner.source)
        summary = run_window(runner, pipeline=plugin, model=model, keep_open=True)
    _print_summary(summary.format())
    if runner.pipeline.profile is not None:
        from xnorvision.pipeline._profile import format_profile

        _print_summary(format_profile(runner.pipeline.profile.summary()))
    if summary.all_failed:
        typer.echo(f"error: every frame failed ({summary.errors} errors, no frame processed; the warnings "
                   "above say why)", err=True)
        raise typer.Exit(ALL_FRAMES_FAILED)


def _print_summary(text: str) -> None:
    """The run's summary on stdout. A terminal closed under the run (SIGHUP) cannot show it: no error then,
    so closing the terminal ends the run like Ctrl-C does."""
    try:
        typer.echo(text)
    except OSError:  # EIO or EPIPE: nobody reads any more
        sys.stdout = open(os.devnull, "w")  # so the exit's own flush does not fail again


@app.command()
def plugins(
    as_json: Annotated[bool, Opt("--json", help="Print a JSON list instead of a table.")] = False,
    debug: DebugOpt = False,
) -> None:
    """List installed plugins: version, what each registered, and load errors."""
    from xnorvision.plugins import load_registry

    _set_debug(debug)
    registry = load_registry()
    if as_json:
        typer.echo(json.dumps([p.to_json() for p in registry.plugins], indent=2))
        return
    if not registry.plugins:
        typer.echo("no plugins installed (entry point group 'xnorvision'); see docs/plugins.md")
    for info in registry.plugins:
        typer.echo(f"{info.name} {info.version or '(no version)'}"
                   + (f"  FAILED: {info.error}" if info.error else ""))
        for kind in ("pipelines", "models", "sources", "sinks"):
            if getattr(info, kind):
                typer.echo(f"  {kind}: {', '.join(getattr(info, kind))}")
        for pipeline, options in info.options.items():
            for o in options:
                typer.echo(f"  --set {o['name']}=<{o['type']}> ({pipeline}, default {o['default']}): "
                           f"{o['help']}")
        if info.warning:
            typer.echo(f"  warning: {info.warning}")


@app.command("new-plugin")
def new_plugin(
    name: Annotated[str, typer.Argument(help="Plugin name: lower case letters, digits and dashes.")],
    directory: Annotated[Path, Opt("--dir", help="Folder to create the package in.")] = Path("."),
    debug: DebugOpt = False,
) -> None:
    """Write an installable plugin package (pyproject, hooks, a test) to start a model plugin from."""
    from xnorvision.plugins._scaffold import write_plugin

    _set_debug(debug)
    root = write_plugin(name, directory)
    typer.echo(f"wrote {root}\nnext: pip install -e {root} && pytest {root}")


@app.command()
def cameras(
    max_index: Annotated[int, Opt("--max-index", help="Try indices 0..N-1.")] = 8,
    debug: DebugOpt = False,
) -> None:
    """List the camera indices that open, with their frame size."""
    from xnorvision.pipeline._doctor import probe_cameras

    _set_debug(debug)
    found = probe_cameras(max_index)
    if not found:
        typer.echo(f"no camera opens (tried indices 0..{max_index - 1})")
    for index, (width, height) in found.items():
        typer.echo(f"{index}: {width}x{height}")


@app.command()
def doctor(debug: DebugOpt = False) -> None:
    """Check the install: OpenCV wheels, Qt platform plugin, CPU features, compiled kernels, plugins."""
    from xnorvision.pipeline._doctor import run_checks

    _set_debug(debug)
    failed = 0
    for check in run_checks():
        typer.echo(f"[{check.status:>4}] {check.name}: {check.detail}")
        failed += check.status == "FAIL"
    if failed:
        raise typer.Exit(1)
