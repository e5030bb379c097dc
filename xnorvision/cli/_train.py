"""``xnorvision train`` and ``xnorvision export`` (need the ``[train]`` extra: torch is imported lazily)."""

from __future__ import annotations

from pathlib import Path

import typer

from xnorvision.cli._apps import app
from xnorvision.errors import XnorvisionError


def _torch_or_error() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise XnorvisionError("training needs torch: pip install 'xnorvision[train]'") from None


@app.command()
def train(
    recipe: str = typer.Option(..., "--recipe", help="Recipe name (cifar10-float, cifar10-bwn, cifar10-xnor...)."),
    data: Path = typer.Option(..., "--data", help="Folder of train_*.npz JPEG chunks (or one chunk file)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint.pt, curves.png, model.xnv."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the recipe's epochs."),
    width: int | None = typer.Option(None, "--width", help="Override the recipe's network width."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt."),
    teacher: Path | None = typer.Option(None, "--teacher", help="Float checkpoint for refinement/distillation."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (default: torch's choice)."),
    limit: int | None = typer.Option(None, "--limit", help="Use only the first N training images."),
) -> None:
    """Train a recipe; writes a checkpoint every epoch and exports OUT/model.xnv at the end."""
    _torch_or_error()
    import torch

    from xnorvision.train.recipes import get_recipe
    from xnorvision.train.trainer import train as run

    if threads:
        torch.set_num_threads(threads)
    try:
        r = get_recipe(recipe).with_overrides(epochs=epochs, width=width)
    except (KeyError, ValueError) as exc:
        raise XnorvisionError(str(exc)) from None
    result = run(r, data, out, device=device, resume=resume, teacher=teacher, limit=limit)
    if result.history:
        last = result.history[-1]
        typer.echo(f"{r.name}: epoch {last['epoch']} validation top-1 {last['val_acc']:.4f}")
    _export_if_available(result.checkpoint, out / "model.xnv")


def _export_if_available(checkpoint: Path, target: Path) -> None:
    try:
        from xnorvision.train.export import export_checkpoint
    except ImportError:
        return
    export_checkpoint(checkpoint, target)
    typer.echo(f"wrote {target}")
