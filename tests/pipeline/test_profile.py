"""``--profile``: each stage's time split into its models' op kinds, its named steps and the rest, with
nothing asked of the stage; and nothing changed (no clock read) while no profile is attached."""

from __future__ import annotations

import time
import types
from pathlib import Path

import numpy as np
import pytest

from xnorvision import _profiling
from xnorvision.api import Detections, Model, timed
from xnorvision.pipeline import Pipeline, PipelineProfile
from xnorvision.pipeline._profile import format_profile
from xnorvision.runtime.ops import OPS

FRAME = np.full((48, 64, 3), 128, np.uint8)
NAMED_S, UNNAMED_S = 0.03, 0.01


class SleepyStage:
    """Waits a known time in a step it names and a known time outside it, and runs a real model inside the
    named step (whose time must not count twice)."""

    name = "sleepy"

    def __init__(self, model: Model) -> None:
        self.model = model

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        with timed("wait"):
            time.sleep(NAMED_S)
            self.model(frame)
        time.sleep(UNNAMED_S)
        return Detections.from_boxes(np.array([[1, 2, 30, 40]], np.float32), np.array([0.8]), "face")


class Plain:
    """A stage that knows nothing of profiling and runs no model."""

    name = "plain"
    role = "verifier"

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        return detections


def _rows(stage: dict) -> dict[str, dict]:
    return {(f"{s['model']}: " if "model" in s else "") + s["name"]: s for s in stage["steps"]}


def test_a_stage_s_time_goes_to_its_models_named_steps_and_the_rest(tiny_model: Path) -> None:
    pipeline = Pipeline([SleepyStage(Model.load(tiny_model, threads=1)), Plain()])
    pipeline.profile = PipelineProfile()
    for _ in range(5):
        pipeline.run(FRAME)
    summary = pipeline.profile.summary()
    assert summary["frames"] == 5
    sleepy, plain = summary["stages"]
    assert (sleepy["name"], plain["name"]) == ("sleepy", "plain")
    rows = _rows(sleepy)
    kinds = {OPS[op].work for _, op, _ in Model.load(tiny_model).steps}
    assert {f"tiny.xnv: {k}" for k in kinds} | {"tiny.xnv: executor", "wait", "other"} == set(rows)
    assert all(r["frames"] == 5 for r in rows.values())
    # the sleep inside the named step is its row's; the model run inside it is not counted there too
    model_ms = sum(r["ms"] for name, r in rows.items() if name.startswith("tiny.xnv"))
    assert model_ms > 0
    assert 1e3 * NAMED_S <= rows["wait"]["ms"] < 1e3 * NAMED_S + 15
    assert 1e3 * UNNAMED_S <= rows["other"]["ms"] < 1e3 * NAMED_S  # the unnamed sleep, not the named one
    assert sleepy["ms"] >= 1e3 * (NAMED_S + UNNAMED_S) and 0.8 < sleepy["share"] <= 1
    assert [r["name"] for r in plain["steps"]] == ["other"] and plain["ms"] < 1e3 * UNNAMED_S
    table = format_profile(summary)
    assert "| sleepy | (all) |" in table and "| | wait |" in table and "| | tiny.xnv: binary conv |" in table


def test_a_failed_frame_leaves_nothing_in_the_profile(tiny_model: Path) -> None:
    class Flaky(SleepyStage):
        def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
            super().__call__(frame, detections)
            raise RuntimeError("bad frame")

    pipeline = Pipeline([Flaky(Model.load(tiny_model, threads=1))])
    pipeline.profile = PipelineProfile()
    with pytest.raises(Exception, match="bad frame"):
        pipeline.run(FRAME)
    assert pipeline.profile.summary()["frames"] == 0
    assert _profiling.current_span() is None  # the stage's span closed with it


def test_without_a_profile_nothing_reads_a_clock_for_it(tiny_model: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiling off: the named steps and the model runs take no time of their own (no clock read), and
    the detections are those of a profiled run."""
    stage = SleepyStage(Model.load(tiny_model, threads=1))
    profiled = Pipeline([stage])
    profiled.profile = PipelineProfile()
    expected = profiled.run(FRAME)[0]

    def no_clock() -> float:
        raise AssertionError("a clock was read for a profile nobody takes")

    monkeypatch.setattr(_profiling, "time", types.SimpleNamespace(perf_counter=no_clock))
    monkeypatch.setattr(stage.model, "_run_layers", _no_hook(stage.model._run_layers))
    plain = Pipeline([stage])
    assert plain.profile is None
    detections, latency = plain.run(FRAME)
    assert np.array_equal(detections.boxes, expected.boxes) and list(latency) == ["sleepy"]


def _no_hook(run_layers):  # noqa: ANN001, ANN202
    def run(x: np.ndarray, on_step=None, *rest):  # noqa: ANN001, ANN002, ANN202
        assert on_step is None, "the model was run with a step hook while nothing is profiled"
        return run_layers(x, on_step, *rest)
    return run
