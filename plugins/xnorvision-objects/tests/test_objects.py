"""The objects plugin, tested with xnorvision's own fixtures (what any plugin author gets)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import xnorvision_objects as plugin
from xnorvision_objects.stage import ObjectStage, centre_square

from xnorvision.api import Detections, load_model

DATA = Path(os.environ.get("XNORVISION_DATA", Path(__file__).parents[3] / ".." / "shared" / "data"))


def test_registers_three_models_and_the_pipeline(xnv_registry) -> None:
    registry = xnv_registry(plugin)
    assert registry.plugins[0].error is None
    assert "objects" in registry.pipelines
    assert set(registry.models) == {"cifar10-float", "cifar10-bwn", "cifar10-xnor"}
    for name in registry.models:
        model = load_model(name, threads=1, registry=registry)
        assert model.labels[:2] == ["airplane", "automobile"] and model.output_names == ["logits"]


def test_pipeline_classifies_the_centre_square(xnv_registry, run_pipeline, tiny_model) -> None:
    results = run_pipeline(xnv_registry(plugin), "objects", frames=2, size=(320, 240), model=str(tiny_model))
    for result in results:
        det = result.detections
        assert det.boxes.tolist() == [[40, 0, 280, 240]]
        (top,) = det.top_k
        assert [name for name, _ in top][0] == det.labels[0] and len(top) == 3
        probs = [p for _, p in top]
        assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-4  # 3 classes of 3


def test_each_proposal_gets_its_own_label(tiny_model) -> None:
    stage = ObjectStage(load_model(str(tiny_model), threads=1), top_k=2)
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, 100:] = 255  # left half black, right half white: two different crops
    proposals = Detections(np.array([[0, 0, 100, 100], [100, 0, 200, 100], [-20, -20, 30, 30]]),
                           np.array([0.9, 0.8, 0.7]), ("face",) * 3)
    out = stage(frame, proposals)
    assert np.array_equal(out.boxes, proposals.boxes) and len(out.top_k) == 3
    assert all(len(t) == 2 for t in out.top_k) and set(out.labels) <= {"cat", "dog", "face"}
    assert out.top_k[0] != out.top_k[1]  # black and white crops do not score alike


def test_logits_become_probabilities(xnv_registry) -> None:
    registry = xnv_registry(plugin)
    stage = ObjectStage(load_model("cifar10-xnor", threads=1, registry=registry))
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = stage(frame, Detections.empty())
    (top,) = out.top_k
    assert len(top) == 3 and 0 < sum(p for _, p in top) <= 1 + 1e-6 and out.scores[0] == top[0][1]


def test_centre_square() -> None:
    assert centre_square(640, 480).tolist() == [[80, 0, 560, 480]]
    assert centre_square(30, 50).tolist() == [[0, 10, 30, 40]]


@pytest.mark.skipif(not (DATA / "cifar10" / "train_4.npz").is_file(), reason="needs ../shared/data/cifar10")
@pytest.mark.parametrize("name", ["cifar10-float", "cifar10-bwn", "cifar10-xnor"])
def test_shipped_models_beat_chance_on_held_out_images(xnv_cli, name: str) -> None:
    ran = xnv_cli("eval", "classify", "--model", name, "--data", DATA / "cifar10" / "train_4.npz",
                  "--last", "500", "--threads", "1", "--json", "r.json", plugins=[plugin])
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.files["r.json"].read_text())["top1"] > 0.4  # chance is 0.1


@pytest.mark.parametrize("top_k", ["0", "-1"])
def test_top_k_below_one_is_one_error_before_the_run(xnv_cli, tiny_model, top_k: str) -> None:
    result = xnv_cli("run", "--headless", "--source", "synth:3", "--plugin", "objects", "--model",
                     str(tiny_model), "--set", f"top_k={top_k}", plugins=[plugin])
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: objects: top_k must be")
