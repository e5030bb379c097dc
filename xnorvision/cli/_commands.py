"""Every command module, imported for its side effect of attaching commands to the Typer apps."""

from __future__ import annotations

from xnorvision.cli import (  # noqa: F401
    _bench_kernels,
    _bench_model,
    _eval_classify,
    _eval_faces,
    _model,
    _run,
    _tables,
    _train,
)
from xnorvision.cli._apps import app

__all__ = ["app"]
