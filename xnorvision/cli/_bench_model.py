"""``xnorvision bench model``: our runtime vs its peers on the same graph, same inputs, one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xnorvision._outputs import check_outputs, check_writable
from xnorvision._replace import write_file
from xnorvision.bench import bench_model, format_report
from xnorvision.cli._apps import FLOAT_STORAGE_HELP, bench_app, threads_option
from xnorvision.errors import XnorvisionError
from xnorvision.runtime._reference import REFERENCES

_Opt = typer.Option
MAX_BATCH = 1024  # a larger batch measures the memory system (or MemoryError), not the kernels


@bench_app.command("model")
def bench_model_cmd(
    model: Annotated[str | None, typer.Argument(help="A registered model name or .xnv path.")] = None,
    reference: Annotated[str | None, _Opt("--reference", help=f"One of: {', '.join(REFERENCES)}.")] = None,
    threads: Annotated[int, threads_option("Threads for every runtime.")] = 1,
    batch: Annotated[int, _Opt("--batch", min=1, max=MAX_BATCH,
                               help="Images per call. A peer whose float activations for it would take over "
                               "half the memory available is skipped, said in its row.")] = 1,
    seconds: Annotated[float, _Opt("--seconds", min=0.0, max=3600.0,
                                   help="Timed seconds per runtime.")] = 5.0,
    json_path: Annotated[Path | None, _Opt("--json", help="Also write the report as JSON here.")] = None,
    float_storage: Annotated[str, _Opt("--float-storage", help="With --reference: " + FLOAT_STORAGE_HELP)]
    = "float32",
    profile: Annotated[bool, _Opt("--profile", help="Also time our runtime per step and op kind, beside "
                                  "openvino-binary's own node times by the same kinds.")] = False,
    height: Annotated[int | None, _Opt("--height", min=1, help="Input height of an any-size model.")] = None,
    width: Annotated[int | None, _Opt("--width", min=1, help="Input width of an any-size model.")] = None,
) -> None:
    """Images/s, p50/p95 latency and weight size of a model on xnorvision and its peers (torch, onnxruntime,
    OpenVINO), each checked to compute our outputs before it is timed."""
    if (model is None) == (reference is None):
        raise XnorvisionError("give either a MODEL (name or path) or --reference NAME")
    if reference is not None and reference not in REFERENCES:
        raise XnorvisionError(f"unknown reference network {reference!r}; choose from {', '.join(REFERENCES)}")
    path = None
    if model is not None:
        from xnorvision.plugins import load_registry, resolve_model

        path = resolve_model(model, load_registry())
    check_outputs([("model", path)], [("--json", json_path)])
    check_writable("--json", json_path)  # before the benchmark, not after it
    if (height is None) != (width is None):
        raise XnorvisionError("give both --height and --width, or neither")
    size = None if height is None or width is None else (height, width)
    report = bench_model(path, reference, threads, batch, seconds, float_storage=float_storage,
                         profile=profile, size=size)
    typer.echo(format_report(report))
    if json_path is not None:
        write_file(json_path, (json.dumps(report, indent=2) + "\n").encode())
