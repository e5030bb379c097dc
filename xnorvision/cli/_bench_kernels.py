"""``xnorvision bench kernels``: parse, run the kernel benchmark, print the table, write the JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xnorvision._outputs import check_writable
from xnorvision._replace import write_file
from xnorvision.cli._apps import bench_app, threads_option

_THREADS = threads_option("Threads for the multi-thread runs (default: all cores).")
_JSON = typer.Option(None, "--json", help="Also write the results as JSON to this file.")
_QUICK = typer.Option(False, "--quick", help="Few repeats: a run of a few seconds, noisier numbers.")


@bench_app.command("kernels")
def bench_kernels(threads: Annotated[int | None, _THREADS] = None, json_path: Path | None = _JSON,
                  quick: bool = _QUICK) -> None:
    """Binary conv / XNOR GEMM speed vs the CPU's popcount ceiling and float32 baselines (ResNet-18)."""
    from xnorvision.bench._kernels import run, table

    check_writable("--json", json_path)  # before the benchmark, not after it
    report, extra = run(threads, quick)
    typer.echo(table(report, extra))
    if json_path is not None:
        write_file(json_path, (json.dumps(report, indent=2) + "\n").encode())
        typer.echo(f"wrote {json_path}")
