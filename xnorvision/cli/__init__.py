"""The ``xnorvision`` command. Command modules only parse, call the core and print.

Errors the user can act on (:class:`~xnorvision.errors.XnorvisionError`) print one line and exit 2;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback


def process_settings() -> None:
    """The process-wide choices that belong to the app, not the library; before the kernels load.

    Waiting OpenMP threads spin for about 0.3 ms (libgomp counts ~100 spins a microsecond), then sleep:
    long enough to stay awake between the layers of one frame, far shorter than libgomp's 3 ms default,
    which kept a core busy between frames that the capture and Qt threads need. A user's own policy wins.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "30000")


process_settings()  # here, because the command modules below load the kernels (and with them OpenMP)

from xnorvision.cli import (  # noqa: E402, F401, I001
    _bench_kernels,
    _bench_model,
    _eval_classify,
    _eval_faces,
    _model,
    _run,
    _tables,
    _train,
)
from xnorvision.cli._apps import State, app  # noqa: E402
from xnorvision.errors import XnorvisionError  # noqa: E402

__all__ = ["app", "main", "process_settings"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; never lets a traceback reach the user unless ``--debug``."""
    args = sys.argv[1:] if argv is None else argv
    State.debug = "--debug" in args
    try:
        app(args=args, prog_name="xnorvision")
    except XnorvisionError as exc:
        if State.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # a bug: still one line, the traceback behind --debug
        if State.debug:
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        raise SystemExit(1) from None
