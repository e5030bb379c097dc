"""The ``xnorvision`` command. Command modules only parse, call the core and print.

Every problem the user can act on prints exactly one line ``error: ...`` on stderr and exits 2: a
:class:`~xnorvision.errors.XnorvisionError` from the core, and Typer/Click's own usage errors (a bad option
value, an unknown command, a missing argument), which would otherwise print a boxed panel. ``--debug``
shows the traceback. This module imports only what the interpreter has already loaded (``os``, ``sys``),
so Ctrl-C is handled from the first instant: the commands (Typer, numpy, OpenCV) and everything else are
imported inside :func:`main`, under its ``except KeyboardInterrupt``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (milliseconds) before main runs
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["app", "main", "process_settings"]

INTERRUPTED = 130  # 128 + SIGINT, the shell's convention


def process_settings() -> None:
    """The process-wide choices that belong to the app, not the library; before the kernels and OpenCV load.

    Waiting OpenMP threads spin a tenth of libgomp's default, then sleep (how long a spin lasts depends on
    the CPU's pause instruction): long enough to stay awake between the layers of one frame, far shorter
    than the default, which kept a core busy between frames that the capture and Qt threads need. A user's
    own policy wins.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "30000")
    # OpenCV's and FFmpeg's own log lines ("moov atom not found", "Connection refused") would come before
    # the one ``error:`` line that names the file and says what to do; a user's own levels win
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


process_settings()  # here, before `main` imports the command modules, which load the kernels (and OpenMP)


def __getattr__(name: str) -> Any:
    """``xnorvision.cli.app``, imported on first use so that importing ``main`` stays instant."""
    if name == "app":
        from xnorvision.cli._commands import app

        return app
    raise AttributeError(f"module 'xnorvision.cli' has no attribute {name!r}")


def _fail(message: str, debug: bool, code: int = 2) -> NoReturn:
    """One line on stderr (line breaks folded, so a wrapped message stays one line), then exit."""
    import re
    import traceback

    if debug:
        traceback.print_exc()
    print(re.sub(r"\s*[\r\n]+\s*", " ", message.strip()), file=sys.stderr)
    raise SystemExit(code) from None


def _empty_argument(args: list[str]) -> str | None:
    """The option given an empty value, if any: Click turns ``--data ''`` into the current folder, so a
    command would read (or write into) it. No option of ours takes an empty string."""
    for i, arg in enumerate(args):
        if arg == "" and i and args[i - 1].startswith("--"):  # an empty positional is its command's to judge
            return args[i - 1]
        if arg.startswith("--") and arg.endswith("=") and len(arg) > 3:
            return arg[:-1]
    return None


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the console script; never lets a traceback reach the user unless ``--debug``."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    if (empty := _empty_argument(args)) is not None:
        _fail(f"error: {empty} is empty (give a value, e.g. a path)", debug)
    try:
        from xnorvision.cli._memory import keep_freed_memory
        from xnorvision.pipeline._stop_signals import remember_early_interrupts

        remember_early_interrupts()
        keep_freed_memory()
        code = _dispatch(args, debug)
    except KeyboardInterrupt:  # Ctrl-C before a command installed its own handling (imports, parsing)
        print("interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None
    if code == INTERRUPTED:
        print("interrupted", file=sys.stderr)
    raise SystemExit(code)  # always, as Click's standalone mode did: callers rely on it


def _dispatch(args: list[str], debug: bool) -> int:
    """Run the command without Click's standalone mode, so its errors come here as exceptions."""
    from typer import TyperException
    from typer._click.exceptions import NoArgsIsHelpError

    from xnorvision.cli._apps import State
    from xnorvision.cli._commands import app
    from xnorvision.errors import XnorvisionError

    State.debug = debug
    try:
        code = app(args=args, prog_name="xnorvision", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # `xnorvision` or `xnorvision eval` alone: the help, as before
        exc.show()
        return 2
    except XnorvisionError as exc:
        _fail(f"error: {exc}", State.debug)
    except TyperException as exc:  # Click's usage errors: bad value, unknown command, missing argument
        _fail(f"error: {exc.format_message()}", State.debug)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a bug: still one line, the traceback behind --debug
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              State.debug, code=1)
    return code if isinstance(code, int) else 0
