"""The training loop: one checkpoint per epoch (Ctrl-C loses at most one), ``resume``, curves, DDP.

Launched by ``torchrun`` (``WORLD_SIZE`` > 1) it trains with DistributedDataParallel, each rank on its own
shard of every epoch's permutation; rank 0 alone evaluates and writes files.
"""

from __future__ import annotations

import copy
import json
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from xnorvision import _ram
from xnorvision._replace import replace_atomically
from xnorvision.errors import XnorvisionError
from xnorvision.train._data import Dataset, augment, load_dataset, to_tensor
from xnorvision.train._recipes import Recipe, build_model
from xnorvision.train._refine import Targets

__all__ = ["NotACheckpoint", "TrainResult", "evaluate", "load_checkpoint", "train"]

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainResult:
    """Where the run left its files and what it measured per epoch."""

    out: Path
    checkpoint: Path
    history: list[dict] = field(default_factory=list)


#: What every checkpoint :func:`train` writes holds; a file without these was written by something else.
_CHECKPOINT_KEYS = ("recipe", "model", "optimizer", "scheduler", "epoch", "history")


class NotACheckpoint(XnorvisionError):
    """A file given as a checkpoint that ``xnorvision train`` did not write (pickled, foreign, cut short)."""


def _not_ours(path: Path, why: str = "") -> NotACheckpoint:
    reason = f" ({why})" if why else ""
    return NotACheckpoint(f"{path}: not a checkpoint written by xnorvision train{reason}")


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by :func:`train`, loaded ``weights_only`` (tensors and plain data, never pickle).

    A pickled, foreign, truncated or unrelated file is one :class:`XnorvisionError`, whatever torch raised.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise XnorvisionError(f"{path}: cannot read checkpoint: no such file")
    try:
        with warnings.catch_warnings():  # torch warns (3 lines) about a foreign pickle before refusing it
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise XnorvisionError(f"{path}: permission denied") from None
    except Exception as exc:  # torch's loader raises many types (UnpicklingError, RuntimeError, EOFError...)
        raise _not_ours(path, type(exc).__name__) from None
    if not isinstance(ckpt, dict) or any(key not in ckpt for key in _CHECKPOINT_KEYS):
        raise _not_ours(path, "it lacks the recipe, weights and training state")
    if not isinstance(ckpt["recipe"], dict) or not isinstance(ckpt["model"], dict):
        raise _not_ours(path, "its recipe or weights are not what train writes")
    try:
        Recipe.from_dict(ckpt["recipe"])
    except (TypeError, ValueError) as exc:
        raise _not_ours(path, f"its recipe: {exc}") from None
    return ckpt


def model_from_checkpoint(ckpt: dict, path: str | Path = "checkpoint") -> tuple[torch.nn.Module, Recipe]:
    """Rebuild the recorded architecture and load its weights (eval mode)."""
    try:
        recipe = Recipe.from_dict(ckpt["recipe"])
        model = build_model(recipe)
        model.load_state_dict(ckpt["model"])
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise _not_ours(Path(path), f"its weights do not fit its recipe: {type(exc).__name__}") from None
    return model.eval(), recipe


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device,
             batch: int = 500) -> float:
    """Top-1 accuracy in eval mode (the arithmetic the runtime reproduces)."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        logits = model(to_tensor(x[i:i + batch], device))
        correct += int((logits.argmax(1).cpu().numpy() == y[i:i + batch]).sum())
    model.train(was_training)
    return correct / len(y)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _device(name: str, rank: int) -> torch.device:
    if name == "cuda":
        if not torch.cuda.is_available():
            raise XnorvisionError("--device cuda: no CUDA device is available")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    if name != "cpu":
        raise XnorvisionError(f"unknown device {name!r} (cpu or cuda)")
    return torch.device("cpu")


def _save_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [h["loss"] for h in history], marker="o")
    a.set(xlabel="epoch", ylabel="training loss")
    b.plot(epochs, [h["train_acc"] for h in history], marker="o", label="train (augmented)")
    b.plot(epochs, [h["val_acc"] for h in history], marker="o", label="validation")
    b.set(xlabel="epoch", ylabel="top-1 accuracy")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _epoch_line(recipe: Recipe, h: dict) -> str:
    """One epoch as one line, never wrapped (a log file is not 80 columns wide)."""
    return (f"{recipe.name} epoch {h['epoch']}/{recipe.epochs}: loss {h['loss']:.4f}, "
            f"train_acc {h['train_acc']:.4f}, val_acc {h['val_acc']:.4f} of {h['val_images']} images, "
            f"{h['seconds']:.1f} s")


def _atomic_save(obj: dict, path: Path) -> None:
    with replace_atomically(path) as file:
        torch.save(obj, file)


#: Training memory per image over the forward pass's layer outputs: the backward pass keeps those and makes
#: gradients of them (measured 1.5-2.3x on cifar10-xnor at batch 256 and 1024, by resident size)
TRAIN_MEMORY_FACTOR = 3


def _forward_bytes(model: torch.nn.Module, image: np.ndarray) -> int:
    """The bytes of every leaf module's output for one image ``(1, H, W, C)``: what the backward pass keeps
    of a forward. Counted on a copy on torch's meta device, which allocates nothing: a large --input-size
    must not fill the memory this check guards."""
    total = 0

    def count(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    shadow = copy.deepcopy(model).to("meta").eval()
    for m in shadow.modules():
        if not any(True for _ in m.children()):
            m.register_forward_hook(count)
    _, h, w, c = image.shape
    with torch.no_grad():
        shadow(torch.empty(1, c, h, w, device="meta"))
    return total


def _check_batch_fits(model: torch.nn.Module, image: np.ndarray, batch_size: int) -> None:
    """A batch whose activations the CPU's memory cannot hold is the user's error, before the first step:
    past it, Linux's OOM killer ends the process instead of an error being raised."""
    per_image = TRAIN_MEMORY_FACTOR * _forward_bytes(model, image)
    if (available := _ram.short_of(batch_size * per_image)) is not None:
        fewer = ("not one image fits: give a smaller --input-size" if _ram.too_big(per_image, available)
                 else f"--batch-size {_ram.largest_fitting(per_image, available)} fits")
        raise XnorvisionError(
            f"--batch-size {batch_size}: training would need about {_ram.gigabytes(batch_size * per_image)}, "
            f"{_ram.over_half(available)}; {fewer}")


def train(recipe: Recipe, data: str | Path | Dataset, out: str | Path, *, device: str = "cpu",
          resume: bool = False, teacher: str | Path | None = None, limit: int | None = None,
          quiet: bool = False) -> TrainResult:
    """Train ``recipe`` on ``data`` into ``out`` (``checkpoint.pt``, ``history.json``, ``curves.png``)."""
    out = Path(out)
    ckpt_path = out / CHECKPOINT
    rank, world = _distributed()
    dev = _device(device, rank)
    state = load_checkpoint(ckpt_path) if resume and ckpt_path.is_file() else None
    if resume and state is None and not quiet:
        print(f"no checkpoint in {out}: starting from scratch")
    if state is not None:
        recipe = Recipe.from_dict(state["recipe"])  # the run continues as it was started
        teacher = state.get("teacher") or teacher
    ds = data if isinstance(data, Dataset) else load_dataset(
        data, recipe.val_size, limit, holdout=recipe.holdout, size=recipe.input_size, seed=recipe.seed)
    # the data decides the class count, and a small data set a smaller batch (both recorded in the recipe)
    recipe = replace(recipe, num_classes=len(ds.classes), batch_size=min(recipe.batch_size, len(ds.train_y)))
    torch.manual_seed(recipe.seed)

    teacher_model = teacher_state = None
    if recipe.needs_teacher():
        if teacher is None:
            raise XnorvisionError(f"recipe {recipe.name} needs --teacher CHECKPOINT (a float model)")
        tck = load_checkpoint(teacher)
        teacher_model, _ = model_from_checkpoint(tck, teacher)
        teacher_model.to(dev)
        teacher_state = tck["model"] if recipe.init_from_teacher else None
    model = build_model(recipe, teacher_state).to(dev)
    targets = Targets(recipe, teacher_model if recipe.refinery == "teacher" else None)

    steps = len(ds.train_y) // (recipe.batch_size * world)
    if steps == 0:
        raise XnorvisionError(f"{len(ds.train_y)} training images are fewer than one batch")
    if dev.type == "cpu":
        _check_batch_fits(model, ds.train_x[:1], recipe.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps)
    history: list[dict] = []
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, start = state["history"], state["epoch"]
        if start > 0:
            targets.new_round(model)
    net: torch.nn.Module = model
    if world > 1:
        ids = [dev] if dev.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    out.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[status]}"))
    console = Console()  # piped into a log: the plain epoch lines only, not every bar again at the end
    bars = not quiet and rank == 0 and console.is_terminal
    with Progress(*columns, console=console, disable=not bars) as progress:
        for epoch in range(start, recipe.epochs):
            label = f"{recipe.name} epoch {epoch + 1}/{recipe.epochs}"
            task = progress.add_task(label, total=steps, status="")
            gen = torch.Generator().manual_seed(recipe.seed * 1000 + epoch)
            order = torch.randperm(len(ds.train_y), generator=gen).numpy()[rank::world]
            net.train()
            t0, total_loss, correct, seen = time.perf_counter(), 0.0, 0, 0
            for s in range(steps):
                idx = np.sort(order[s * recipe.batch_size:(s + 1) * recipe.batch_size])
                x = augment(to_tensor(ds.train_x[idx]), gen).to(dev)
                y = torch.from_numpy(ds.train_y[idx]).long().to(dev)
                logits = net(x)
                loss = targets.loss(logits, x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total_loss += float(loss.detach()) * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
                status = f"loss {total_loss / seen:.3f} acc {correct / seen:.3f}"
                progress.update(task, advance=1, status=status)
            targets.new_round(model)
            if rank != 0:
                continue
            val = evaluate(model, ds.val_x, ds.val_y, dev)
            history.append({"epoch": epoch + 1, "loss": total_loss / seen, "train_acc": correct / seen,
                            "val_acc": val, "val_images": len(ds.val_y),
                            "seconds": round(time.perf_counter() - t0, 1)})
            progress.update(task, status=f"loss {total_loss / seen:.3f} val {val:.4f}")
            if not quiet:  # one plain line per epoch too, for logs where the bar does not render
                progress.console.print(_epoch_line(recipe, history[-1]), soft_wrap=True)
            _atomic_save({"recipe": recipe.to_dict(), "model": model.state_dict(),
                          "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                          "epoch": epoch + 1, "history": history,
                          "data_hash": ds.hash, "classes": ds.classes,
                          "teacher": str(teacher) if teacher is not None else None}, ckpt_path)
            (out / "history.json").write_text(json.dumps(history, indent=1))
            _save_curves(history, out / "curves.png")
    if world > 1:
        dist.destroy_process_group()
    return TrainResult(out, ckpt_path, history)
