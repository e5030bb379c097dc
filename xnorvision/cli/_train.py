"""``xnorvision train`` and ``xnorvision export`` (the ``[train]`` extra: torch is imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer import Option as Opt

from xnorvision._outputs import check_outputs, check_writable
from xnorvision.cli._apps import FLOAT_STORAGE_HELP, MAX_SEED, app, threads_option
from xnorvision.errors import XnorvisionError


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise XnorvisionError("training needs torch: pip install 'xnorvision[train]'") from None


#: every recipe of ``xnorvision.train._recipes.RECIPES`` (kept here so `--help` needs no torch; a test
#: checks the two agree)
RECIPE_NAMES = ("cifar10-float", "cifar10-bwn", "cifar10-xnor", "cifar10-xnor-plain", "cifar10-xnor-teacher",
                "cifar10-bwn-teacher", "cifar10-xnor-distill", "image-folder")
FOLDER_RECIPE = "image-folder"
#: the widest network --width builds: its widest layers then hold ~100 M weights; far wider ones made torch
#: fail deep in C++ (a 50-line native backtrace) instead of saying so
MAX_WIDTH = 1024


@app.command()
def train(
    data: Annotated[Path, Opt("--data", help="An image folder (one sub-folder per class; the folder names "
                                             "become the labels), a folder of train_*.npz JPEG chunks, or "
                                             "one chunk file.")],
    out: Annotated[Path, Opt("--out", help="Run folder: checkpoint.pt, curves.png, model.xnv.")],
    recipe: Annotated[str | None, Opt("--recipe", help=f"Recipe: {', '.join(RECIPE_NAMES)} (default "
                                      f"{FOLDER_RECIPE} for an image folder).")] = None,
    mode: Annotated[str | None, Opt("--mode", help="Override the precision: xnor, bwn or float.")] = None,
    arch: Annotated[str | None, Opt("--arch", help="Override the architecture (vgg_small).")] = None,
    width: Annotated[int | None, Opt("--width", min=1, max=MAX_WIDTH,
                                     help="Override the recipe's network width.")] = None,
    input_size: Annotated[int | None, Opt("--input-size", min=8, help="Square input side, a multiple of 8 "
                                          "(image folders are resized to it; default 32).")] = None,
    holdout: Annotated[float | None, Opt("--holdout", help="Image folders: fraction held out for validation, "
                                         "split at random with the recipe's seed (default 0.2).")] = None,
    epochs: Annotated[int | None, Opt("--epochs", min=1, help="Override the recipe's epochs.")] = None,
    batch_size: Annotated[int | None, Opt("--batch-size", min=1, help="Override the batch size.")] = None,
    seed: Annotated[int | None, Opt("--seed", min=0, max=MAX_SEED,
                                     help="Override the recipe's seed.")] = None,
    device: Annotated[str, Opt("--device", help="cpu or cuda.")] = "cpu",
    resume: Annotated[bool, Opt("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    teacher: Annotated[Path | None, Opt("--teacher", help="Float checkpoint (refinery, teacher).")] = None,
    threads: Annotated[int | None, threads_option("torch CPU threads.")] = None,
    limit: Annotated[int | None, Opt("--limit", min=1, help="Use only the first N training images.")] = None,
) -> None:
    """Train a binary classifier: a checkpoint every epoch (Ctrl-C loses at most one), then OUT/model.xnv.

    On your own classes: `xnorvision train --data DIR --out runs/mine` (recipe image-folder, XNOR, 32x32).
    """
    from xnorvision.eval._image_folder import is_image_folder

    if recipe is None and not is_image_folder(data):
        if not data.exists():
            raise XnorvisionError(f"--data {data}: no such file or folder")
        if data.is_dir() and not any(data.glob("train_*.npz")):
            raise XnorvisionError(f"--data {data}: neither an image folder (one sub-folder of images per "
                                  f"class) nor JPEG chunk files (train_*.npz)")
        raise XnorvisionError(f"--recipe is needed for chunk data (one of: {', '.join(RECIPE_NAMES)})")
    if mode is not None and mode not in ("xnor", "bwn", "float"):
        raise XnorvisionError(f"--mode {mode!r}: choose xnor, bwn or float")
    _need_torch()
    outputs = [out / "checkpoint.pt", out / "model.xnv"]
    check_outputs([("--data", data), ("--teacher", teacher)], [(p.name, p) for p in outputs])
    for path in outputs:  # refused now rather than after the first epoch
        check_writable("--out", path)
    import torch

    from xnorvision.train._export import export_checkpoint
    from xnorvision.train._models import ARCHITECTURES
    from xnorvision.train._recipes import get_recipe
    from xnorvision.train._trainer import train as run

    if arch is not None and arch not in ARCHITECTURES:
        raise XnorvisionError(f"--arch {arch!r}: choose from {', '.join(ARCHITECTURES)}")
    if input_size is not None and input_size % 8:
        raise XnorvisionError(f"--input-size {input_size}: must be a multiple of 8")
    if threads:
        torch.set_num_threads(threads)
    try:
        r = get_recipe(recipe or FOLDER_RECIPE).with_overrides(
            epochs=epochs, width=width, mode=mode, arch=arch, input_size=input_size, holdout=holdout,
            batch_size=batch_size, seed=seed)
    except KeyError as exc:
        raise XnorvisionError(str(exc.args[0])) from None
    if teacher is not None and not r.needs_teacher():  # was ignored, whatever file it named
        users = ", ".join(n for n in RECIPE_NAMES if "teacher" in n or "distill" in n)
        raise XnorvisionError(f"--teacher: recipe {r.name} uses no teacher; drop it, or pick one that does "
                              f"({users})")
    try:
        result = run(r, data, out, device=device, resume=resume, teacher=teacher, limit=limit)
    except (MemoryError, RuntimeError) as exc:  # torch's failed allocation is a RuntimeError
        if isinstance(exc, RuntimeError) and "allocate" not in str(exc):
            raise
        raise XnorvisionError(f"training ran out of memory at --batch-size {r.batch_size}; checkpoints of "
                              f"finished epochs are kept; try a smaller --batch-size") from None
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
    from xnorvision.runtime._format import check_float_storage
    from xnorvision.train._export import export_checkpoint

    check_float_storage(float_storage)  # before torch loads the checkpoint
    check_writable("--out", out)
    typer.echo(f"wrote {export_checkpoint(checkpoint, out, float_storage)}")
