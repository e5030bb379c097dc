"""The ``xnorvision`` command. Command modules only parse, call the core and print.

Errors the user can act on (:class:`~xnorvision.errors.XnorvisionError`) print one line and exit 2;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
import traceback

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
from xnorvision.cli._apps import State, app
from xnorvision.errors import XnorvisionError

__all__ = ["app", "main"]


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
