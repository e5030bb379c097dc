"""``bench model`` asks whether a batch fits before each runtime allocates it (an OOM kill is a crash)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xnorvision import _ram
from xnorvision.bench import _memory
from xnorvision.bench._model import bench_model
from xnorvision.bench._peers import PEERS
from xnorvision.errors import XnorvisionError
from xnorvision.runtime import Model
from xnorvision.runtime._reference import write_reference
from xnorvision.runtime.ops import OPS


def test_available_bytes_reads_this_machine() -> None:
    available = _ram.available_bytes()
    assert available is None or 2**20 < available < 2**50


@pytest.mark.torch
def test_the_float_estimate_is_what_the_torch_twin_keeps_alive(tmp_path: Path) -> None:
    """The torch peer keeps every node's output until its forward returns: the estimate counts those."""
    import torch

    from xnorvision.bench._torch_graph import _param_tensors

    model = Model.load(write_reference("vgg-small", tmp_path / "v.xnv"))
    x = torch.zeros(1, 3, 32, 32)
    env, alive = {"input": x}, x.numel() * 4
    with torch.inference_mode():
        for node in model.file.nodes:
            out = OPS[node.op].to_torch(node, [env[i] for i in node.inputs], _param_tensors(node, model.file))
            env[node.name] = out
            alive += out.numel() * out.element_size()
    assert _memory.float_runtime_bytes(model, 32, 32) == alive
    assert alive > model.info(32, 32)["peak_activation_bytes"]  # ours packs bits and reuses buffers


@pytest.fixture
def every_batch_checked(monkeypatch):
    """The runtime checks a call's memory from 64 MiB up: here from the first byte."""
    from xnorvision.runtime import _executor

    monkeypatch.setattr(_executor, "_BATCH_CHECK_BYTES", 0)


def test_peers_that_would_not_fit_are_skipped_rows_and_ours_still_runs(tmp_path: Path, monkeypatch,
                                                                        every_batch_checked) -> None:
    """ResNet-18 at --batch 1024 grew past 24 GB and was OOM-killed (exit 137)."""
    path = write_reference("vgg-small", tmp_path / "v.xnv")
    model = Model.load(path)
    ours, peer = model._check_size(32, 32), _memory.float_runtime_bytes(model, 32, 32)
    assert peer > ours
    monkeypatch.setattr(_ram, "available_bytes", lambda: 2 * 4 * ours)  # half of it: our 4 images exactly
    rows = {r["name"]: r for r in bench_model(path, batch=4, seconds=0.05)["runtimes"]}
    assert rows["xnorvision"]["images_per_s"] > 0
    for name in PEERS:
        assert rows[name]["images_per_s"] is None
        note = rows[name]["note"]
        assert note.startswith("skipped: would need about ") and "of memory available" in note


def test_a_call_the_memory_cannot_hold_is_the_callers_error_naming_one_that_fits(
        tmp_path: Path, monkeypatch, every_batch_checked) -> None:
    model = Model.load(write_reference("vgg-small", tmp_path / "v.xnv"))
    monkeypatch.setattr(_ram, "available_bytes", lambda: 20 * model._check_size(32, 32))  # half: 10 images
    images = np.zeros((64, 32, 32, 3), np.uint8)
    with pytest.raises(XnorvisionError, match=r"64 images of 32x32 in one call would need .* at most 10"):
        model(images)
    assert model(images[:10]).shape == (10, 10)


@pytest.mark.parametrize(("name", "size"), [("vgg-small", 32), ("resnet18", 224)])
def test_the_estimate_is_what_a_first_run_allocates(tmp_path: Path, name: str, size: int) -> None:
    """Every step's tensor of one image, times the batch: within a factor of two of the arrays the first
    run of a new batch shape allocates (numpy's allocations, as tracemalloc counts them)."""
    import tracemalloc

    model = Model.load(write_reference(name, tmp_path / "m.xnv"))
    images = np.zeros((8, size, size, 3), np.uint8)
    tracemalloc.start()
    try:
        model(images)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.5 < peak / (8 * model._check_size(size, size)) < 2


def test_bench_and_eval_say_so_in_one_line(cli, tmp_path: Path, monkeypatch, every_batch_checked) -> None:
    path = write_reference("vgg-small", tmp_path / "v.xnv")
    monkeypatch.setattr(_ram, "available_bytes", lambda: 1)
    code, out, err = cli("bench", "model", str(path), "--batch", "2", "--seconds", "0.05")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "2 images of 32x32 in one call would need" in err and "at most" not in err  # not even one fits


def test_unknown_memory_checks_nothing_and_a_batch_that_fits_is_named() -> None:
    assert not _ram.too_big(2**62, None)
    assert _ram.too_big(11, 20) and not _ram.too_big(10, 20)
    assert _ram.largest_fitting(3, 20) == 3 and not _ram.too_big(3 * 3, 20) and _ram.too_big(4 * 3, 20)
    assert _ram.largest_fitting(100, 20) == 1
