"""`bench model`'s peers compute our outputs before they are timed, and `--profile` accounts for the run."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from xnorvision.bench._model import bench_model, format_report, round_speedups, time_interleaved
from xnorvision.bench._peers import (
    CHECK_IMAGES,
    PEERS,
    PeerUnavailable,
    Runner,
    differing_images,
    openvino_binary_profile,
    verify,
)
from xnorvision.bench._profile import KINDS, POPCOUNT, format_profile, profile_model
from xnorvision.runtime import Model, save_model
from xnorvision.runtime._reference import write_reference
from xnorvision.runtime.ops import OPS

from . import graphs

#: the module each peer needs: a peer is skipped only where it is missing
NEEDS = {"torch-float32": ["torch"], "onnxruntime-float32": ["onnxruntime", "torch"],
         "openvino-float32": ["openvino", "torch"], "openvino-binary": ["openvino"]}


def _model(tmp_path: Path, build=graphs.peers) -> tuple[Model, np.ndarray]:
    graph, tensors, spec = build()
    model = Model.load(save_model(tmp_path / "m.xnv", graph, tensors, spec, [], {}), threads=1)
    x = model.preprocess(np.random.default_rng(0).integers(0, 256, (2, 13, 11, 3), dtype=np.uint8))
    return model, x


@pytest.mark.parametrize("name", list(PEERS))
def test_each_peer_computes_our_outputs(tmp_path: Path, name: str) -> None:
    for module in NEEDS[name]:
        pytest.importorskip(module)
    model, x = _model(tmp_path)
    runner = PEERS[name](model, x, 1, tmp_path)  # raises unless every output matches ours
    runner.call()
    assert runner.weight_bytes > 0


def _as_a_peer_gives_them(model: Model, ours: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Our outputs the way a peer returns them: NHWC here, bits as ±1 floats."""
    from xnorvision.runtime.ops import unpack_signs

    return [unpack_signs(ours[k], model.file.types[k].channels or 0) if ours[k].dtype == np.uint64
            else ours[k].copy() for k in model.output_names]


def test_bits_outputs_must_match_exactly_image_by_image(tmp_path: Path) -> None:
    """A peer's ±1 bits against our packed words: one flipped sign is a mismatch of its image alone."""
    model, x = _model(tmp_path)
    ours = model.run(x)
    same = _as_a_peer_gives_them(model, ours)
    with pytest.raises(PeerUnavailable, match="shape"):
        differing_images(model, ours, [*same[:2], np.ones((2, 7, 6, 1), np.float32)], nchw=False)
    assert differing_images(model, ours, same, nchw=False)[0].tolist() == [False, False]
    same[2][1, 0, 0, 0] *= -1
    differ, words = differing_images(model, ours, same, nchw=False)
    assert differ.tolist() == [False, True] and words.startswith("output 'mp' differs from ours by 2")


def test_a_peer_is_checked_on_more_images_than_one_batch_and_may_miss_a_few(tmp_path: Path) -> None:
    """A binary network's signs may flip where float rounding differs near zero: a few images may differ
    (and are counted), most may not."""
    model, x = _model(tmp_path)  # batches of 2 images
    seen: list[np.ndarray] = []

    def off_on(images: set[int]):
        def compute(xb: np.ndarray) -> list[np.ndarray]:
            seen.append(xb.copy())
            theirs = _as_a_peer_gives_them(model, model.run(xb))
            for i in range(len(xb)):
                if len(seen) * len(xb) - len(xb) + i in images:
                    theirs[0][i] += 1.0  # its probabilities, off by far more than float tolerance
            return theirs
        return compute

    assert verify(model, x, off_on({5}), nchw=False) == (CHECK_IMAGES, 1)
    assert len(seen) == CHECK_IMAGES // 2 and np.array_equal(seen[0], x)
    assert len({b.tobytes() for b in seen}) == len(seen)  # other images each time
    seen.clear()
    assert verify(model, x, off_on(set(range(4))), nchw=False) == (CHECK_IMAGES, 4)  # a quarter
    seen.clear()
    wrong = r"^error: output 'prob' differs from ours by 1 .* on 5 of 16 images"
    with pytest.raises(PeerUnavailable, match=wrong):
        verify(model, x, off_on(set(range(5))), nchw=False)


def test_a_timed_peer_row_says_how_its_images_compared(tmp_path: Path, monkeypatch) -> None:
    from xnorvision.bench import _model as bench_module

    def one_off(model: Model, x: np.ndarray, threads: int, workdir: Path) -> Runner:
        return Runner(lambda: None, 1, (16, 1))

    monkeypatch.setitem(PEERS, "torch-float32", one_off)
    model, _ = _model(tmp_path)
    report = bench_model(model.path, seconds=0.05)
    rows = {r["name"]: r for r in report["runtimes"]}
    assert (rows["torch-float32"]["checked_images"], rows["torch-float32"]["differing_images"]) == (16, 1)
    assert "checked_images" not in rows["xnorvision"]
    assert "differed from ours (why a few may: docs/benchmarks.md): torch-float32 1 of 16" in (
        bench_module.format_report(report))


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino is not installed")
def test_an_openvino_graph_that_computes_something_else_is_an_error_row(tmp_path, monkeypatch) -> None:
    """Break one lowering on purpose (hardtanh left out): the row says why and has no time."""
    model, _ = _model(tmp_path)
    broken = dataclasses.replace(OPS["hardtanh"], to_openvino=lambda node, xs, params, t_in: xs[0])
    monkeypatch.setitem(OPS, "hardtanh", broken)
    rows = {r["name"]: r for r in bench_model(model.path, seconds=0.05)["runtimes"]}
    assert rows["openvino-binary"]["images_per_s"] is None
    assert rows["openvino-binary"]["note"].startswith("error: output")


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino is not installed")
def test_an_op_without_an_openvino_lowering_is_a_row_with_its_reason(tmp_path, monkeypatch) -> None:
    model, _ = _model(tmp_path)
    monkeypatch.setitem(OPS, "hardtanh", dataclasses.replace(OPS["hardtanh"], to_openvino="no clamp op"))
    rows = {r["name"]: r for r in bench_model(model.path, seconds=0.05)["runtimes"]}
    assert rows["openvino-binary"]["images_per_s"] is None
    note = "unsupported: op 'hardtanh' has no OpenVINO lowering: no clamp op"
    assert rows["openvino-binary"]["note"] == note
    assert rows["xnorvision"]["images_per_s"] > 0


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino is not installed")
def test_channels_openvino_cannot_sum_are_refused(tmp_path: Path) -> None:
    """graphs.chain has a 70-channel binary conv: OpenVINO's u1 kernel would sum it wrongly."""
    model, _ = _model(tmp_path, graphs.chain)
    rows = {r["name"]: r for r in bench_model(model.path, seconds=0.05)["runtimes"]}
    note = rows["openvino-binary"]["note"]
    assert note.startswith("unsupported:") and "70" in note
    assert rows["xnorvision"]["images_per_s"] > 0


def test_the_step_hook_sees_every_step_once_per_run(tmp_path: Path) -> None:
    model, x = _model(tmp_path)
    seen: list[int] = []
    out = model.run(x, lambda i, dt: seen.append(i) if dt >= 0 else None)
    assert seen == list(range(len(model.steps)))
    for name, value in model.run(x).items():
        np.testing.assert_array_equal(out[name], value)


def test_profile_sums_to_the_run(tmp_path: Path) -> None:
    model = Model.load(write_reference("vgg-small", tmp_path / "v.xnv"), threads=1)
    x = model.preprocess(np.zeros((1, 32, 32, 3), np.uint8))
    # the ceiling as `bench model --profile` measures it (best of 100 short runs): the best of 8 once fell
    # in a slow moment of a noisy VM, above the kernels' own time
    p = profile_model(model, x, seconds=0.3)
    assert [lay["name"] for lay in p["layers"]] == [name for name, _, _ in model.steps]
    assert {lay["kind"] for lay in p["layers"]} <= set(KINDS.values())
    # the steps are the run, less the executor's own bookkeeping
    assert 0.75 * p["total_ms"] <= p["steps_ms"] <= p["total_ms"]
    assert sum(k["ms"] for k in p["kinds"].values()) == pytest.approx(p["steps_ms"], rel=1e-3)
    assert p["popcount_ms"] == pytest.approx(p["kinds"][POPCOUNT]["ms"])
    assert p["binary_macs"] == model.info()["macs"]["binary"] > 0
    assert 0 < p["ceiling_ms"] < p["popcount_ms"]
    # faster popcount kernels alone could save at most the binary convs' time above the ceiling
    assert p["bound_ms"] == pytest.approx(p["total_ms"] - p["popcount_ms"] + p["ceiling_ms"], abs=1e-3)


def test_a_run_preempted_in_one_step_does_not_move_the_profile(tmp_path: Path) -> None:
    """A shared machine stops a run now and then: that wait is not the step's time (medians, not means)."""
    model = Model.load(write_reference("vgg-small", tmp_path / "v.xnv"), threads=1)
    x = model.preprocess(np.zeros((1, 32, 32, 3), np.uint8))
    name, inputs, layer = model._steps[3]
    calls = []

    def preempted(xs: list[np.ndarray]) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:  # the second timed run (the first call warms up)
            time.sleep(0.4)
        return layer(xs)

    model._steps[3] = (name, inputs, preempted)
    p = profile_model(model, x, seconds=0.3, ceiling_repeats=2)
    # a mean would put at least 400/3 ms on the step; the median keeps its own time (any machine, qemu too)
    assert p["runs"] >= 3 and p["layers"][3]["ms"] < 100


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino is not installed")
def test_openvino_binary_profile_sorts_its_nodes_into_our_kinds(tmp_path: Path) -> None:
    """`--profile` sets openvino-binary's own node times beside ours, by the same op kinds."""
    model = Model.load(write_reference("vgg-small", tmp_path / "v.xnv"), threads=1)
    x = model.preprocess(np.zeros((1, 32, 32, 3), np.uint8))
    peer = openvino_binary_profile(model, x, threads=1, seconds=0.2)
    assert peer["runs"] >= 3
    # vgg-small's five binary convs run as BinaryConvolution nodes, each fed by a FakeQuantize (our sign)
    assert peer["kinds"]["binary conv"] > 0 and peer["kinds"]["pack"] > 0 and peer["kinds"]["float conv"] > 0
    assert peer["total_ms"] == pytest.approx(sum(peer["kinds"].values()), abs=1e-3)
    ours = profile_model(model, x, seconds=0.2, ceiling_repeats=2)
    ours["openvino_binary"] = peer
    text = format_profile(ours)
    assert "| kind | ms | share | openvino-binary ms |" in text
    assert f"| binary conv | {ours['kinds'][POPCOUNT]['ms']:.3f} |" in text
    assert text.count(f"{peer['kinds']['binary conv']:.3f} |") >= 1
    assert f"| (all) | {ours['total_ms']:.3f} | 100% | {peer['total_ms']:.3f} |" in text


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino is not installed")
def test_a_failing_peer_profile_is_a_note_not_the_end(tmp_path, monkeypatch) -> None:
    from xnorvision.bench import _model as bench_module

    def fails(*_: object) -> dict:
        raise RuntimeError("PERF_COUNT is not supported\nby this build")

    monkeypatch.setattr(bench_module, "openvino_binary_profile", fails)
    model, _ = _model(tmp_path)
    report = bench_model(model.path, seconds=0.05, profile=True)
    assert report["profile"]["openvino_binary"] == {"error": "RuntimeError: by this build"}
    assert set(report["quiet_wait_ms"]) == {"xnorvision"} | {r["name"] for r in report["runtimes"]
                                                            if r["images_per_s"]}
    text = bench_module.format_report(report)
    assert "(openvino-binary's per-node times: RuntimeError: by this build)" in text
    assert "| kind | ms | share |" in text  # ours alone


@pytest.fixture
def stop_handlers() -> Iterator[None]:
    """The CLI's stop-signal handlers, as `xnorvision bench model` runs with them; Python's after."""
    from xnorvision.pipeline._stop_signals import STOP_SIGNALS, remember_early_interrupts

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    remember_early_interrupts()
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _swallowing_peer(*_: object) -> None:
    """A peer whose native import took a SIGTERM and turned the interrupt into an error of its own."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    except KeyboardInterrupt:
        raise ImportError("initialization failed") from None


@pytest.mark.parametrize("name", list(PEERS))
def test_a_stop_signal_a_peer_swallowed_still_stops_the_benchmark(monkeypatch: pytest.MonkeyPatch,
                                                                   stop_handlers: None, name: str) -> None:
    """Not a row noting the peer's error and a benchmark that goes on for its whole time."""
    monkeypatch.setitem(PEERS, name, _swallowing_peer)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        bench_model(reference="vgg-small", seconds=30)
    assert time.perf_counter() - start < 20


def test_each_round_has_every_runtime_in_turn() -> None:
    order: list[str] = []
    rounds = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 0.06,
                              slice_s=0.02, warmup=0)
    assert [len(r) for r in rounds.values()] == [3, 3]
    assert all(calls for per_round in rounds.values() for calls in per_round)
    runs = "".join(order)  # three slices of a, each followed by a slice of b
    assert runs.count("ab") == 3 and runs.count("ba") == 2


def test_round_speedups_are_ratios_within_each_round() -> None:
    # our runtime: 10 calls of 0.1 s, then 5 (10/s both rounds); the peer: 1/s, then 2/s
    rounds = {"xnorvision": [[0.1] * 10, [0.1] * 5], "peer": [[1.0], [0.5, 0.5]], "other": [[0.1], [0.1]]}
    spread = round_speedups(rounds)
    assert spread["peer"] == {"low": 5.0, "median": 7.5, "high": 10.0, "rounds": 2}
    assert spread["other"] == {"low": 1.0, "median": 1.0, "high": 1.0, "rounds": 2}


def test_the_printed_report_gives_each_peers_rounds_to_the_hundredth() -> None:
    ours = {"name": "xnorvision", "images_per_s": 10.0, "p50_ms": 100.0, "p95_ms": 110.0, "weights_mb": 1.0}
    report = {"model": "m", "input": [1, 8, 8, 3], "threads": 2, "machine": "cpu", "cpus": 2,
              "kernels": "avx2", "load_average_1m": 0.5, "runtimes": [ours], "speedup": {"peer": 7.0},
              "speedup_rounds": {"peer": {"low": 6.5, "median": 7.0, "high": 8.25, "rounds": 12}}}
    assert "round by round (12 rounds, each runtime in turn): 6.50-8.25x vs peer" in format_report(report)


def test_the_report_names_the_float_kernels_path_where_it_differs() -> None:
    ours = {"name": "xnorvision", "images_per_s": 10.0, "p50_ms": 100.0, "p95_ms": 110.0, "weights_mb": 1.0}
    report = {"model": "m", "input": [1, 8, 8, 3], "threads": 2, "machine": "cpu", "cpus": 2,
              "kernels": "avx512", "float_kernels": "avx2", "load_average_1m": 0.5, "runtimes": [ours],
              "speedup": {}, "speedup_rounds": {}}
    assert "(2 CPUs, kernels: avx512, float avx2)" in format_report(report)
    report["float_kernels"] = "avx512"
    assert "(2 CPUs, kernels: avx512)" in format_report(report)
    del report["float_kernels"]  # a JSON file written before the float kernels had their own path
    assert "(2 CPUs, kernels: avx512)" in format_report(report)
