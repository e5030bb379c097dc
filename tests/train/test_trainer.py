"""The training loop on tiny synthetic data: learning, checkpoints, resume, targets, export, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xnorvision.cli import main  # noqa: E402
from xnorvision.errors import XnorvisionError  # noqa: E402
from xnorvision.runtime import Model  # noqa: E402
from xnorvision.train._data import load_dataset  # noqa: E402
from xnorvision.train._export import export_checkpoint  # noqa: E402
from xnorvision.train._recipes import Recipe, get_recipe  # noqa: E402
from xnorvision.train._refine import Targets  # noqa: E402
from xnorvision.train._trainer import load_checkpoint, train  # noqa: E402

TINY = dict(width=4, num_classes=2, batch_size=32, val_size=64, lr=5e-3)


@pytest.fixture
def data(chunk_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XNORVISION_CACHE", str(tmp_path / "cache"))
    return load_dataset(chunk_file, val_size=64)


def test_dataset_cache_and_split(data, chunk_file, tmp_path) -> None:
    assert data.train_x.shape == (256, 32, 32, 3) and data.val_x.shape == (64, 32, 32, 3)
    assert data.classes == ["dark", "bright"] and len(data.hash) == 64
    assert list((tmp_path / "cache" / "xnorvision").glob("chunks-*.npz"))
    again = load_dataset(chunk_file, val_size=64)  # from the cache
    assert np.array_equal(again.val_x, data.val_x) and again.hash == data.hash


def test_float_training_learns_checkpoints_and_resumes(data, tmp_path) -> None:
    torch.manual_seed(0)
    recipe = Recipe("t-float", epochs=2, **TINY)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.tmp").symlink_to(victim)  # planted at the writer's old temporary name
    result = train(recipe, data, tmp_path / "run", quiet=True)
    assert victim.read_text() == "precious" and not list((tmp_path / "run").glob(".checkpoint.pt.*"))
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.history[-1]["val_acc"] >= 0.9  # the two classes differ in overall brightness
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt["epoch"] == 2 and ckpt["recipe"]["name"] == "t-float" and ckpt["data_hash"] == data.hash
    # Resume with more epochs recorded in the checkpoint? No: the run continues as started, so it is done.
    again = train(recipe, data, tmp_path / "run", resume=True, quiet=True)
    assert again.history == result.history


def test_ctrl_c_loses_at_most_one_epoch_and_resume_finishes_identically(data, tmp_path, monkeypatch) -> None:
    recipe = Recipe("t-xnor", mode="xnor", epochs=2, **TINY)
    straight = train(recipe, data, tmp_path / "straight", quiet=True)
    calls = {"n": 0}
    real_loss = Targets.loss

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 12:  # during epoch 2 (8 steps per epoch)
            raise KeyboardInterrupt
        return real_loss(self, *args)

    monkeypatch.setattr(Targets, "loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(recipe, data, tmp_path / "run", quiet=True)
    assert load_checkpoint(tmp_path / "run")["epoch"] == 1
    monkeypatch.setattr(Targets, "loss", real_loss)
    resumed = train(recipe, data, tmp_path / "run", resume=True, quiet=True)

    def drop_time(h: list[dict]) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "seconds"} for e in h]

    assert drop_time(resumed.history) == drop_time(straight.history)


def test_refine_and_distill_use_the_teacher(data, tmp_path) -> None:
    teacher = train(Recipe("t-teacher", epochs=1, **TINY), data, tmp_path / "teacher", quiet=True)
    for target in ("refine", "distill"):
        r = Recipe(f"t-{target}", mode="bwn", epochs=1, target=target, init_from_teacher=True, **TINY)
        res = train(r, data, tmp_path / target, teacher=teacher.checkpoint, quiet=True)
        assert load_checkpoint(res.checkpoint)["teacher"] == str(teacher.checkpoint)
    with pytest.raises(Exception, match="teacher"):
        train(Recipe("t-no", mode="xnor", target="refine", **TINY), data, tmp_path / "no", quiet=True)


def test_soft_targets() -> None:
    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tensor([[2.0, 0.0]]).expand(len(x), 2)

    logits = torch.tensor([[0.0, 1.0]])
    y = torch.tensor([1])
    x = torch.zeros(1, 3, 4, 4)
    refine = Targets(Recipe("r", target="refine"), Fixed()).loss(logits, x, y)
    p = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    expected = -(p * torch.log_softmax(logits[0], 0)).sum()
    torch.testing.assert_close(refine, expected)
    plain = Targets(Recipe("p"), None).loss(logits, x, y)
    torch.testing.assert_close(plain, torch.nn.functional.cross_entropy(logits, y))
    selfr = Targets(Recipe("s", target="refine", refinery="previous"), None)
    torch.testing.assert_close(selfr.loss(logits, x, y), plain)  # round one: labels
    selfr.new_round(Fixed())
    torch.testing.assert_close(selfr.loss(logits, x, y), expected)


def test_export_checkpoint_records_the_recipe_and_matches_torch(data, tmp_path) -> None:
    res = train(Recipe("t-x", mode="xnor", epochs=1, **TINY), data, tmp_path / "run", quiet=True)
    path = export_checkpoint(res.checkpoint, tmp_path / "m.xnv")
    model = Model.load(path, threads=1)
    assert model.labels == ["dark", "bright"] and model.output_names == ["logits"]
    meta = model.metadata
    assert meta["recipe"]["mode"] == "xnor" and meta["data_hash"] == data.hash
    assert meta["val_top1"] == res.history[-1]["val_acc"]
    acc = float((model(data.val_x).argmax(1) == data.val_y).mean())
    assert acc == pytest.approx(res.history[-1]["val_acc"], abs=1e-9)  # same predictions as torch eval


def test_cli_train_then_export(chunk_file, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XNORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("xnorvision.train._recipes.RECIPES",
                        {"tiny": get_recipe("cifar10-xnor-plain").with_overrides(name="tiny", **TINY)})
    with pytest.raises(SystemExit) as exc:
        main(["train", "--recipe", "tiny", "--data", str(chunk_file), "--out", str(tmp_path / "run"),
              "--epochs", "1", "--threads", "1"])
    assert exc.value.code in (0, None)
    assert (tmp_path / "run" / "model.xnv").is_file()
    assert json.loads((tmp_path / "run" / "history.json").read_text())[0]["epoch"] == 1
    with pytest.raises(SystemExit) as exc:
        main(["train", "--recipe", "nope", "--data", str(chunk_file), "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "unknown recipe" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "m.xnv")])
    assert exc.value.code == 2


DDP_SCRIPT = """
import os, sys, torch
import xnorvision.train._trainer as trainer
from xnorvision.train._recipes import Recipe
out, data = sys.argv[1], sys.argv[2]
built = []
real_build = trainer.build_model
trainer.build_model = lambda *args: built.append(real_build(*args)) or built[-1]  # keep the bare model
recipe = Recipe("t-ddp", mode="xnor", epochs=2, width=4, num_classes=2, batch_size=16, val_size=64, lr=5e-3)
trainer.train(recipe, data, out, quiet=True)
torch.save(built[-1].state_dict(), f"{out}/rank{os.environ['RANK']}.pt")
"""


def test_torchrun_with_two_processes_trains_one_synchronised_model(chunk_file, tmp_path, monkeypatch) -> None:
    """DistributedDataParallel on CPU (gloo): two ranks, each on half of every batch, end equal."""
    import subprocess
    import sys

    monkeypatch.setenv("XNORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(script), str(out), str(chunk_file)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = [torch.load(out / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    params = [k for k in ranks[0] if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(params) >= 10
    for k in params:  # gradients were averaged across the ranks
        assert torch.equal(ranks[0][k], ranks[1][k]), k
    # Batch-norm statistics are rank 0's, broadcast before every forward; a rank's own last step differs.
    ckpt = load_checkpoint(out)  # rank 0 alone wrote the checkpoint, each epoch
    assert ckpt["epoch"] == 2 and [h["epoch"] for h in ckpt["history"]] == [1, 2]
    assert ckpt["history"][-1]["val_acc"] >= 0.8


@pytest.mark.parametrize("label", [2, 10**6])
def test_cli_train_refuses_labels_the_network_cannot_output(chunk_file, tmp_path, monkeypatch, cli,
                                                            label: int) -> None:
    """classes.txt names 2 classes: label 2 is one line, exit 2, cached arrays included; 10^6 is past any
    chunk's class bound (1000)."""
    monkeypatch.setenv("XNORVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("xnorvision.train._recipes.RECIPES",
                        {"tiny": get_recipe("cifar10-xnor-plain").with_overrides(name="tiny", **TINY)})
    chunk = chunk_file / "train_0.npz"
    with np.load(chunk) as d:
        arrays = {name: d[name] for name in d.files}
    arrays["y"] = arrays["y"].astype(np.int64)
    arrays["y"][5] = label
    np.savez(chunk, **arrays)
    with pytest.raises(XnorvisionError):  # (the chunk itself is valid: its arrays are cached, label and all)
        load_dataset(chunk_file, val_size=64)
    code, _, err = cli("train", "--recipe", "tiny", "--data", str(chunk_file), "--out", str(tmp_path / "run"),
                       "--epochs", "1", "--threads", "1")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    bound = f"{chunk_file}: labels must lie in 0..1" if label == 2 else f"{chunk}: labels must lie in 0..999"
    assert lines[0] == f"error: {bound}, found 0..{label}"


def test_a_batch_the_memory_cannot_hold_is_refused_before_the_first_step(data, tmp_path, monkeypatch) -> None:
    """Past the memory, Linux's OOM killer ends the process (exit 137): no error is ever raised there."""
    from xnorvision import _ram
    from xnorvision.train import _trainer

    recipe = Recipe("t-float", epochs=1, **TINY)
    model = _trainer.build_model(dataclasses.replace(recipe, num_classes=2))
    per_image = _trainer.TRAIN_MEMORY_FACTOR * _trainer._forward_bytes(model, data.train_x[:1])
    monkeypatch.setattr(_ram, "available_bytes", lambda: 20 * per_image)  # half of it holds 10 images
    with pytest.raises(XnorvisionError, match=r"--batch-size 32: training would need .* --batch-size 10 fit"):
        train(recipe, data, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    monkeypatch.setattr(_ram, "available_bytes", lambda: per_image)
    with pytest.raises(XnorvisionError, match=r"not one image fits: give a smaller --input-size"):
        train(recipe, data, tmp_path / "run", quiet=True)
    monkeypatch.setattr(_ram, "available_bytes", lambda: 80 * per_image)
    assert train(recipe, data, tmp_path / "run", quiet=True).history  # 32 images fit in half of 80


def test_forward_bytes_counts_every_layer_output_of_one_image() -> None:
    from xnorvision.train._trainer import _forward_bytes

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 8 * 8, 5))
    net.train()
    assert _forward_bytes(net, np.zeros((1, 8, 8, 3), np.uint8)) == 4 * (256 + 256 + 256 + 5)
    assert net.training and net[0].weight.device.type == "cpu"  # the model itself is left as it was
    big = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1))  # 8192x8192 would take 8.6 GB
    assert _forward_bytes(big, np.zeros((1, 8192, 8192, 3), np.uint8)) == 4 * 32 * 8192 * 8192  # no memory


def test_running_out_of_memory_mid_run_is_one_line_exit_2(tmp_path, monkeypatch, capsys) -> None:
    """torch's failed allocation (under a memory limit, `ulimit -v`) is a RuntimeError: 'internal error'."""
    import cv2

    from xnorvision.train import _trainer

    for name, value in (("dark", 30), ("bright", 220)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(20):
            cv2.imwrite(str(tmp_path / "data" / name / f"{i}.png"), np.full((16, 16, 3), value + i, np.uint8))

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(_trainer, "augment", no_memory)
    with pytest.raises(SystemExit) as stop:
        main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"), "--epochs", "1",
              "--width", "4", "--input-size", "16", "--batch-size", "8"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "training ran out of memory at --batch-size 8" in err
