"""Native runs: bound kernels run back to back give the layers' results bit for bit, run after run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xnorvision import kernels
from xnorvision.runtime import Model, save_model
from xnorvision.runtime._layers import Layer
from xnorvision.runtime._reference import write_reference

from . import graphs

PLUGINS = Path(__file__).parents[2] / "plugins"
FACES = PLUGINS / "xnorvision-faces/xnorvision_faces/models"


def _same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape, name
        np.testing.assert_array_equal(got[name].view(np.uint8), want[name].view(np.uint8), err_msg=name)


def _layer_by_layer(model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
    model.native = False
    try:
        return model.run(x)
    finally:
        model.native = True


def _check_runs(model: Model, inputs: list[np.ndarray]) -> None:
    """The first input plans the native run; every later one (new values in the same arrays) must give
    what the layers give for it, and so must the first one again."""
    for x in [*inputs, inputs[0]]:
        _same(model.run(x), _layer_by_layer(model, x))


def _save(tmp_path: Path, model: graphs.Model) -> Path:
    graph, tensors, spec = model
    return save_model(tmp_path / "m.xnv", graph, tensors, spec, ["x"], {})


@pytest.fixture(params=["cautious", "eager", "parallel"])
def policy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Thread policies: the cautious thresholds, the eager ones, and every kernel parallel on any size."""
    if request.param == "eager":
        monkeypatch.setattr(kernels, "_EAGER_DIVISOR", 10**9)
        monkeypatch.setattr("xnorvision.runtime._governor.ThreadGovernor.choose", lambda self: True)
    elif request.param == "parallel":
        for name in ("_PARALLEL_WORD_OPS", "_PARALLEL_FLOAT_MACS", "_PARALLEL_FLOAT_MACS_PORTABLE",
                     "_PARALLEL_VALUES"):
            monkeypatch.setattr(kernels, name, 1)
    return request.param


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("build", [graphs.chain, graphs.residual, graphs.bireal, graphs.stem_pool,
                                   graphs.peers, graphs.bireal_blocks])
def test_small_graphs_run_natively_as_their_layers_do(tmp_path: Path, build, threads: int,
                                                      policy: str) -> None:
    graph, tensors, spec = build()
    model = Model.load(_save(tmp_path, (graph, tensors, spec)), threads=threads)
    rng = np.random.default_rng(0)
    shape = (2, spec["height"], spec["width"], spec["channels"])
    _check_runs(model, [rng.standard_normal(shape).astype(np.float32) for _ in range(3)])
    # images: the first layer reads them, or they are made float (the float run's plan then)
    _check_runs(model, [rng.integers(0, 256, shape, np.uint8) for _ in range(2)])


@pytest.mark.parametrize("threads", [1, 2])
def test_shipped_and_reference_networks_run_natively(tmp_path: Path, threads: int, policy: str) -> None:
    """Every step of the networks the README measures is bound, but where the CPU has no fused multiply-add
    for the dense kernel: there the linear layers and the faces heads stay BLAS's."""
    dense = set() if kernels.dense_available() else {"logits", "face", "s8", "s16", "s32"}
    nets = {"resnet18": (write_reference("resnet18", tmp_path / "r.xnv"), 64, 64, dense),
            "vgg-small": (write_reference("vgg-small", tmp_path / "v.xnv"), 32, 32, dense),
            "proposal": (FACES / "proposal.xnv", 96, 128, dense),
            "classifier": (FACES / "classifier.xnv", 32, 32, dense)}
    rng = np.random.default_rng(1)
    for name, (path, h, w, blas) in nets.items():
        model = Model.load(path, threads=threads)
        batch = 3 if name == "classifier" else 1
        _check_runs(model, [rng.integers(0, 256, (batch, h, w, 3), np.uint8) for _ in range(2)])
        native = next(iter(model._native_runs.values()))
        kinds = zip(model.steps, native.step_kinds(), strict=True)
        assert {step[0] for step, kind in kinds if kind == "python"} <= blas, name
        assert native._input_readers, name  # the first layer reads each run's input where it is, no copy


def test_a_nan_stops_a_native_run_with_the_layers_error(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.bireal_blocks()
    model = Model.load(_save(tmp_path, (graph, tensors, spec)), threads=1)
    x = np.random.default_rng(2).standard_normal((1, spec["height"], spec["width"], 3)).astype(np.float32)
    model.run(x)
    bad = x.copy()
    bad[0, 5, 5, 1] = np.nan
    with pytest.raises(ValueError, match="contains NaN") as want:
        _layer_by_layer(model, bad)
    with pytest.raises(ValueError, match="contains NaN") as got:
        model.run(bad)
    assert str(got.value) == str(want.value)
    _same(model.run(x), _layer_by_layer(model, x))  # and the next run is whole again


def test_tensors_share_arrays_once_their_readers_are_done(tmp_path: Path) -> None:
    """ResNet-18's activations fit in a few arrays, reused as layers finish with them; none is shared by
    two tensors that live at once (the runs above would differ), nor with the input or an output."""
    model = Model.load(write_reference("resnet18", tmp_path / "r.xnv"), threads=1)
    x = np.random.default_rng(3).integers(0, 256, (1, 224, 224, 3), np.uint8)
    model.run(x)
    native = next(iter(model._native_runs.values()))
    arrays = native._arrays
    bases = {id(a.base): a.base.nbytes for a in arrays.values() if a.base is not None}
    assert sum(bases.values()) < 0.5 * sum(a.nbytes for a in arrays.values())
    kept = [arrays["input"], *(arrays[name] for name in native._outputs)]
    for a in kept:
        assert sum(np.may_share_memory(a, b) for b in arrays.values()) == 1


def _written_over(model: Model) -> dict[str, bool]:
    """Per step whose layer may write over an input: whether its result's array is that input's."""
    native = next(iter(model._native_runs.values()))
    return {name: np.shares_memory(native._arrays[name], native._arrays[inputs[layer.writes_over]])
            for name, inputs, layer in native._steps if layer.writes_over is not None}


@pytest.mark.parametrize("shortcut_first", [False, True])
def test_a_bireal_conv_writes_over_a_shortcut_read_last(tmp_path: Path, shortcut_first: bool) -> None:
    """Its epilogue reads each shortcut value before writing the result there: one array for both, and the
    run is still the layers' bit for bit, run after run."""
    model = Model.load(_save(tmp_path, graphs.bireal_blocks(shortcut_first=shortcut_first)), threads=2)
    rng = np.random.default_rng(5)
    _check_runs(model, [rng.standard_normal((2, 16, 12, 3)).astype(np.float32) for _ in range(3)])
    over = _written_over(model)
    assert len(over) == 3 and all(over.values())


def test_a_shortcut_read_again_later_keeps_its_array(tmp_path: Path) -> None:
    model = Model.load(_save(tmp_path, graphs.shortcut_read_on()), threads=1)
    rng = np.random.default_rng(6)
    _check_runs(model, [rng.standard_normal((1, 9, 7, 3)).astype(np.float32) for _ in range(3)])
    assert _written_over(model) == {"b0": False, "b1": False}


def test_planned_arrays_start_on_cache_lines(tmp_path: Path) -> None:
    """A row's vector loads never span two cache lines (numpy's large arrays start 16 bytes into a page)."""
    model = Model.load(write_reference("resnet18", tmp_path / "r.xnv"), threads=1)
    model.run(np.random.default_rng(4).integers(0, 256, (1, 224, 224, 3), np.uint8))
    arrays = next(iter(model._native_runs.values()))._arrays
    misaligned = [name for name, a in arrays.items() if name != "input" and a.ctypes.data % 64]
    assert not misaligned and len(arrays) > 20


def test_a_layer_without_a_kernel_runs_between_native_stretches(tmp_path: Path) -> None:
    """A step that cannot bind (here: ResNet-18's third binary conv, made to refuse) runs through its
    layer, between two native stretches, and the run is still the layers' bit for bit."""
    model = Model.load(write_reference("resnet18", tmp_path / "r.xnv"), threads=1)
    name, inputs, layer = model._steps[3]

    class Unbound(Layer):
        def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
            return layer(xs)

    model._steps[3] = (name, inputs, Unbound())
    rng = np.random.default_rng(4)
    _check_runs(model, [rng.integers(0, 256, (1, 64, 64, 3), np.uint8) for _ in range(2)])
    kinds = next(iter(model._native_runs.values())).step_kinds()
    assert kinds[3] == "python" and kinds.count("python") == 1 + (not kernels.dense_available())


def test_the_profile_hook_times_every_step_of_a_native_run(tmp_path: Path) -> None:
    model = Model.load(write_reference("vgg-small", tmp_path / "v.xnv"), threads=1)
    x = np.zeros((1, 32, 32, 3), np.uint8)
    model.run(x)
    seen: list[int] = []
    got = model.run(x, lambda i, seconds: seen.append(i) if seconds >= 0 else None)
    assert seen == list(range(len(model.steps)))
    _same(got, _layer_by_layer(model, x))


def test_each_input_shape_plans_once_and_few_are_kept(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.bireal_blocks()
    model = Model.load(_save(tmp_path, (graph, tensors, spec)), threads=1)
    rng = np.random.default_rng(5)
    for n in range(1, 12):
        x = rng.standard_normal((n, spec["height"], spec["width"], 3)).astype(np.float32)
        model.run(x)
        _same(model.run(x), _layer_by_layer(model, x))
    assert len(model._native_runs) == 8
