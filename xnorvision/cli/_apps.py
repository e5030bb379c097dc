"""The Typer apps the command modules attach to (kept apart so each command module imports only this)."""

from __future__ import annotations

from typing import Any

import typer

from xnorvision.errors import XnorvisionError
from xnorvision.runtime._threads import cpu_count, usable_threads

app = typer.Typer(
    name="xnorvision",
    help="Real-time computer vision on ordinary CPUs with binary (XNOR) neural networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(help="Measure speed against the float baseline and the CPU's popcount peak.",
                        no_args_is_help=True)
model_app = typer.Typer(help="Inspect and create .xnv model files.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure accuracy on a labelled data set.", no_args_is_help=True)

app.add_typer(bench_app, name="bench")
app.add_typer(model_app, name="model")
app.add_typer(eval_app, name="eval")


def _check_threads(ctx: typer.Context, param: typer.CallbackParam, value: int | None) -> int | None:
    """Every command's ``--threads``: positive, and at most the CPU count (with a warning when the user
    asked for more; a command's own default is capped quietly)."""
    if value is None:
        return None
    try:
        n = usable_threads(value)
    except XnorvisionError:
        raise XnorvisionError(f"--threads {value}: must be at least 1") from None
    source = ctx.get_parameter_source(param.name or "")
    if n < value and getattr(source, "name", None) != "DEFAULT":
        typer.echo(f"warning: --threads {value} is more than the {cpu_count()} CPUs this process may use; "
                   f"using {n}", err=True)
    return n


def threads_option(help: str) -> Any:
    """The ``--threads`` option, checked and capped in this one place for every command that has it."""
    return typer.Option("--threads", help=help, callback=_check_threads)


#: seeds numpy and torch both take (numpy refuses negatives, torch overflows past 64 bits)
MAX_SEED = 2**32 - 1


class State:
    """Global flags set by the root callback."""

    debug: bool = False


def _show_version(value: bool) -> None:
    """``--version``: the package's version, before any command is parsed (an eager option)."""
    if value:
        from xnorvision import __version__

        typer.echo(f"xnorvision {__version__}")
        raise typer.Exit()


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
          version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                       callback=_show_version, is_eager=True)) -> None:
    State.debug = debug


FLOAT_STORAGE_HELP = ("How float weights are stored: float32, or int8 with a per-output-channel scale "
                      "(a quarter of their bytes; dequantized at load).")
