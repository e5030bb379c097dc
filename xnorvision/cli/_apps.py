"""The Typer apps the command modules attach to (kept apart so each command module imports only this)."""

from __future__ import annotations

import typer

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


class State:
    """Global flags set by the root callback."""

    debug: bool = False


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    State.debug = debug


FLOAT_STORAGE_HELP = ("How float weights are stored: float32, or int8 with a per-output-channel scale "
                      "(a quarter of their bytes; dequantized at load).")
