"""``xnorvision train`` and ``xnorvision export`` (the ``[train]`` extra: torch is imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer import Option as Opt

from xnorvision._outputs import check_outputs, check_writable
from xnorvision._replace import check_regular_target
from xnorvision.cli._apps import FLOAT_STORAGE_HELP, app
from xnorvision.errors import XnorvisionError


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise XnorvisionError("training needs torch: pip install 'xnorvision[train]'") from None


@app.command()
def train(
    recipe: Annotated[str, Opt("--recipe", help="Recipe name: cifar10-float, cifar10-bwn, cifar10-xnor.")],
    data: Annotated[Path, Opt("--data", help="Folder of train_*.npz JPEG chunks, or one chunk file.")],
    out: Annotated[Path, Opt("--out", help="Run folder: checkpoint.pt, curves.png, model.xnv.")],
    epochs: Annotated[int | None, Opt("--epochs", min=1, help="Override the recipe's epochs.")] = None,
    width: Annotated[int | None, Opt("--width", min=1, help="Override the recipe's network width.")] = None,
    device: Annotated[str, Opt("--device", help="cpu or cuda.")] = "cpu",
    resume: Annotated[bool, Opt("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    teacher: Annotated[Path | None, Opt("--teacher", help="Float checkpoint (refinery, teacher).")] = None,
    threads: Annotated[int | None, Opt("--threads", min=1, help="torch CPU threads.")] = None,
    limit: Annotated[int | None, Opt("--limit", min=1, help="Use only the first N training images.")] = None,
) -> None:
    """Train a recipe: a checkpoint every epoch (Ctrl-C loses at most one), then OUT/model.xnv."""
    _need_torch()
    outputs = [out / "checkpoint.pt", out / "model.xnv"]
    check_outputs([("--data", data), ("--teacher", teacher)], [(p.name, p) for p in outputs])
    for path in outputs:  # refused now rather than after the first epoch
        check_regular_target(path)
    import torch

    from xnorvision.train.export import export_checkpoint
    from xnorvision.train.recipes import get_recipe
    from xnorvision.train.trainer import train as run

    if threads:
        torch.set_num_threads(threads)
    try:
        r = get_recipe(recipe).with_overrides(epochs=epochs, width=width)
    except KeyError as exc:
        raise XnorvisionError(str(exc.args[0])) from None
    result = run(r, data, out, device=device, resume=resume, teacher=teacher, limit=limit)
    if result.history:
        last = result.history[-1]
        typer.echo(f"{r.name}: epoch {last['epoch']}, validation top-1 {last['val_acc']:.4f}")
    typer.echo(f"wrote {export_checkpoint(result.checkpoint, out / 'model.xnv')}")


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt of `xnorvision train` (or its folder).")],
    out: Annotated[Path, Opt("--out", help="The .xnv file to write.")],
    float_storage: Annotated[str, Opt("--float-storage", help=FLOAT_STORAGE_HELP)] = "float32",
) -> None:
    """Export a training checkpoint to .xnv (batch norm and scaling folded; bit-exact with torch)."""
    source = checkpoint / "checkpoint.pt" if checkpoint.is_dir() else checkpoint
    check_outputs([("checkpoint", source)], [("--out", out)])
    _need_torch()
    from xnorvision.runtime.format import check_float_storage
    from xnorvision.train.export import export_checkpoint

    check_float_storage(float_storage)  # before torch loads the checkpoint
    check_writable("--out", out)
    typer.echo(f"wrote {export_checkpoint(checkpoint, out, float_storage)}")
