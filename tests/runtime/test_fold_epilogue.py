"""The Bi-Real step between two binary convs (residual add, PReLU, sign) fused into the conv's epilogue:
bit for bit the unfused layers, on random graphs and on the networks the profile is about."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xnorvision import kernels
from xnorvision.runtime import Model, _fold, save_model

from . import graphs


def _load(path: Path, fused: bool, threads: int, monkeypatch: pytest.MonkeyPatch) -> Model:
    """The model with the epilogue and pool fusions, or without them (every other rewrite kept)."""
    if fused:
        return Model.load(path, threads=threads)
    with monkeypatch.context() as m:
        m.setattr(_fold, "_fused_pool", lambda conv, pool: 0)
        m.setattr(_fold, "_fuse_add", lambda *args: None)
        m.setattr(_fold, "_fuses_prelu", lambda prev: False)
        m.setattr(_fold, "_bits_beside", lambda *args: False)
        m.setattr(_fold, "_fuse_pools", lambda *args: None)
        return Model.load(path, threads=threads)


def _assert_same(fused: Model, plain: Model, x: np.ndarray) -> None:
    got, want = fused.run(x), plain.run(x)
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape
        np.testing.assert_array_equal(got[name].view(np.uint8), want[name].view(np.uint8), err_msg=name)


def _assert_same_nan_error(fused: Model, plain: Model, x: np.ndarray) -> None:
    """A sign of NaN is an error, and the fused model's is the same one."""
    with pytest.raises(ValueError, match="contains NaN") as want:
        plain.run(x)
    with pytest.raises(ValueError, match="contains NaN") as got:
        fused.run(x)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("pad_value", [0, 1])
@pytest.mark.parametrize(("act", "shortcut_first", "swap"), [
    (True, False, False), (True, True, True), (False, False, True), (False, True, False)])
def test_bireal_blocks_fuse_bit_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int,
                                        pad_value: int, act: bool, shortcut_first: bool, swap: bool) -> None:
    monkeypatch.setattr(kernels, "_PARALLEL_WORD_OPS", 1)  # 2 threads go parallel even on these sizes
    graph, tensors, spec = graphs.bireal_blocks(pad_value=pad_value, act=act, shortcut_first=shortcut_first,
                                                swap=swap)
    path = save_model(tmp_path / "m.xnv", graph, tensors, spec, [], {})
    fused, plain = _load(path, True, threads, monkeypatch), _load(path, False, threads, monkeypatch)
    steps = {name: attrs for name, op, attrs in fused.steps if op == "binary_conv2d"}
    # every block's add (and prelu) is in its conv; the sign the next block reads comes out beside it
    assert all(steps[f"b{i}"].get("fused_add") for i in range(3))
    assert [bool(steps[f"b{i}"].get("fused_prelu")) for i in range(3)] == [act, act, False]
    assert [steps[f"b{i}"].get("bits_output") for i in range(3)] == ["side_sign", "s2", None]
    names = {name for name, _, _ in fused.steps}
    assert not {"sum0", "sum1", "sum2", "side_sign", "s2", "act0", "act1", "s0"} & names
    assert "s1" in names  # a second sign of the same tensor: a pack of its own
    assert dict((name, attrs) for name, _, attrs in fused.steps)["stem"]["bits_output"] == "s0"
    assert len(plain.steps) - len(fused.steps) == 6  # three adds (or prelu(add)s), three signs
    rng = np.random.default_rng(pad_value)
    images = rng.integers(0, 256, (2, 16, 12, 3), np.uint8)
    x = rng.standard_normal((1, 16, 12, 3)).astype(np.float32)
    for inp in (images, x, np.zeros_like(x)):  # zeros: sums that are exactly 0
        _assert_same(fused, plain, inp)
    x[0, 5, 5, 1] = np.nan
    _assert_same_nan_error(fused, plain, x)


def test_a_batch_norm_after_a_fused_add_stays_a_step(tmp_path: Path) -> None:
    """``bn`` after a fused add is not the conv's batch norm: it must not fold into the conv's scale."""
    b = graphs.Builder(6)
    x = b.add("stem", "conv2d", ["input"], {"kernel": [1, 1], "stride": 1, "padding": "valid",
                                             "in_channels": 3, "out_channels": 9}, weight=b.f32(9, 1, 1, 3))
    y = b.binary("b", b.add("s", "sign", [x]), 9, 9)
    x = b.bn("bn", b.add("sum", "add", [y, x]), 9)
    path = save_model(tmp_path / "m.xnv", b.graph(x), b.tensors, graphs.SPEC, [], {})
    model = Model.load(path)
    assert [op for _, op, _ in model.steps] == ["conv2d", "binary_conv2d", "batch_norm"]  # sign in the stem
    x_in = np.random.default_rng(0).standard_normal((1, 13, 11, 3)).astype(np.float32)
    stem = np.einsum("nhwc,oc->nhwo", x_in, b.tensors["stem.weight"][:, 0, 0])
    got = model.run(x_in)["bn"]
    t = b.tensors
    sum_ = stem + kernels.binary_conv2d_fused(kernels.pack_bits(stem), t["b.weight"], 9, t["b.scale"],
                                              t["b.bias"])
    a = b.tensors["bn.weight"] / np.sqrt(b.tensors["bn.running_var"] + 1e-5)
    np.testing.assert_allclose(got, sum_ * a + (b.tensors["bn.bias"] - b.tensors["bn.running_mean"] * a),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("network", graphs.PROFILED_NETWORKS)
def test_the_profiled_networks_fuse_bit_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                network: str, threads: int) -> None:
    """ResNet-18's float stem takes its 3x3 max pool and the sign after it; the faces nets' BWN stem
    layers take their PReLU and sign (the classifier on a batch of 24 crops, as the faces pipeline runs
    it)."""
    monkeypatch.setattr(kernels, "_PARALLEL_FLOAT_MACS", 1)  # 2 threads go parallel on these sizes too
    path, shape = graphs.profiled_network(network, tmp_path)
    fused, plain = _load(path, True, threads, monkeypatch), _load(path, False, threads, monkeypatch)
    ops = [op for _, op, _ in fused.steps]
    assert "add" not in ops and "sign" not in ops
    if network == "resnet18":
        stem = fused.steps[0][2]
        assert stem["fused_maxpool"] == 3 and "bits_output" in stem and "maxpool2d" not in ops
    else:
        bwn = next(attrs for _, op, attrs in fused.steps if op == "bwn_conv2d")
        assert bwn.get("fused_prelu") and "bits_output" in bwn and "prelu" not in ops
    if network == "faces-proposal":  # the downsampling shortcut's average and max, side by side
        assert "concat" not in ops and "maxpool2d" not in ops
        pools = dict((name, attrs) for name, _, attrs in fused.steps)["s16_0_pool"]
        assert pools["side_by_side"] == ["maxpool2d"]
    rng = np.random.default_rng(1)
    for images in (rng.integers(0, 256, shape, np.uint8), np.zeros(shape, np.uint8)):
        _assert_same(fused, plain, images)


def _bwn_block(extra_reader: bool, prelu: bool, bn: bool = False) -> graphs.Model:
    """A float stem, a BWN conv (a batch norm after it: folded), PReLU or not, the sign into a binary conv;
    ``extra_reader``: the conv's (or PReLU's) float is also read (a Bi-Real shortcut, as in the faces
    nets)."""
    b = graphs.Builder(8)
    conv = {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 3, "out_channels": 16}
    x = b.add("stem", "conv2d", ["input"], conv, weight=b.f32(16, 3, 3, 3))
    conv = {**conv, "stride": 2, "in_channels": 16, "out_channels": 24}
    x = b.add("bwn", "bwn_conv2d", [x], conv, weight=graphs.random_packed(b.rng, (24, 3, 3), 16),
              scale=b.f32(24, lo=0.1), bias=b.f32(24))
    if bn:
        x = b.bn("bn", x, 24)
    if prelu:
        x = b.add("act", "prelu", [x], weight=b.f32(24, lo=-0.5))
    y = b.binary("b", b.add("s", "sign", [x]), 24, 24, pad_value=1)
    return b.graph(b.add("sum", "add", [y, x]) if extra_reader else y), b.tensors, graphs.SPEC


@pytest.mark.parametrize(("extra_reader", "prelu", "bn"), [
    (True, True, True), (False, True, False), (True, False, False), (False, False, True)])
def test_a_bwn_conv_takes_its_prelu_and_sign_bit_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         extra_reader: bool, prelu: bool, bn: bool) -> None:
    path = save_model(tmp_path / "m.xnv", *_bwn_block(extra_reader, prelu, bn), [], {})
    fused, plain = _load(path, True, 1, monkeypatch), _load(path, False, 1, monkeypatch)
    steps = {name: (op, attrs) for name, op, attrs in fused.steps}
    assert steps["bwn"][0] == "bwn_conv2d" and steps["bwn"][1].get("bits_output") == "s"
    assert bool(steps["bwn"][1].get("fused_prelu")) == prelu
    assert not {"s", "act", "bn"} & set(steps)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 13, 11, 3)).astype(np.float32)
    for inp in (rng.integers(0, 256, (3, 13, 11, 3), np.uint8), x, np.zeros_like(x)):
        _assert_same(fused, plain, inp)
    x[1, 4, 4, 0] = np.nan
    _assert_same_nan_error(fused, plain, x)


def test_a_batch_norm_after_a_bwn_prelu_stays_a_step(tmp_path: Path) -> None:
    """``bn(prelu(bwn))``: once the PReLU is in the conv, the batch norm must not fold into its scale."""
    b = graphs.Builder(9)
    x = b.add("bwn", "bwn_conv2d", ["input"], {"kernel": [3, 3], "stride": 1, "padding": "same",
                                                "in_channels": 3, "out_channels": 8},
              weight=graphs.random_packed(b.rng, (8, 3, 3), 3), scale=b.f32(8, lo=0.1), bias=b.f32(8))
    x = b.bn("bn", b.add("act", "prelu", [x], weight=b.f32(8, lo=-0.5)), 8)
    path = save_model(tmp_path / "m.xnv", b.graph(x), b.tensors, graphs.SPEC, [], {})
    model = Model.load(path)
    assert [op for _, op, _ in model.steps] == ["bwn_conv2d", "batch_norm"]
    x_in = np.random.default_rng(0).standard_normal((1, 13, 11, 3)).astype(np.float32)
    t = b.tensors
    y = kernels.prelu(kernels.bwn_conv2d(x_in, t["bwn.weight"], 3, t["bwn.scale"], t["bwn.bias"], 1, "same"),
                      t["act.weight"])
    a = t["bn.weight"] / np.sqrt(t["bn.running_var"] + 1e-5)
    np.testing.assert_allclose(model.run(x_in)["bn"], y * a + (t["bn.bias"] - t["bn.running_mean"] * a),
                               rtol=1e-4, atol=1e-4)


def _pools_concat(case: str) -> graphs.Model:
    """A float conv, pools of it and a channel concat of them, as ``case`` varies what the concat reads."""
    b = graphs.Builder(9)
    conv = {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 3, "out_channels": 5}
    x = b.add("stem", "conv2d", ["input"], conv, weight=b.f32(5, 3, 3, 3), bias=b.f32(5))
    window = {"kernel": 3, "stride": 2, "padding": 1}
    avg = b.add("avg", "avgpool2d", [x], window)
    maxp = b.add("max", "maxpool2d", [x], window)
    outputs = []
    if case == "three":
        inputs = [maxp, avg, b.add("avg2", "avgpool2d", [x], window)]
    elif case == "pool read twice":
        inputs, outputs = [avg, maxp], [maxp]
    elif case == "other window":
        inputs = [avg, b.add("pick", "maxpool2d", [x], {"kernel": 1, "stride": 2})]
    elif case == "other inputs":
        y = b.add("stem2", "conv2d", ["input"], conv, weight=b.f32(5, 3, 3, 3))
        inputs = [avg, b.add("max2", "maxpool2d", [y], window)]
    elif case == "not a pool":
        inputs = [avg, b.add("half", "conv2d", [x], {**conv, "stride": 2, "in_channels": 5},
                             weight=b.f32(5, 3, 3, 5))]
    else:
        inputs = [avg, maxp]
    cat = b.add("cat", "concat", inputs, {"axis": -1})
    return b.graph(cat, *outputs), b.tensors, graphs.SPEC


@pytest.mark.parametrize(("case", "fuses"), [
    ("avg and max", True), ("three", True), ("pool read twice", False), ("other window", False),
    ("other inputs", False), ("not a pool", False)])
def test_pools_that_only_a_concat_reads_run_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        case: str, fuses: bool) -> None:
    """Float pools of one input and one window, read by nothing but a channel concat of them, become one
    step writing the concat's tensor: bit for bit the pools and the concat, NaN and signed zeros included."""
    path = save_model(tmp_path / "m.xnv", *_pools_concat(case), [], {})
    fused, plain = _load(path, True, 1, monkeypatch), _load(path, False, 1, monkeypatch)
    ops = [op for _, op, _ in fused.steps]
    assert ("concat" not in ops) == fuses
    if fuses:
        first = fused.steps[1]
        assert first[2]["side_by_side"] == (["avgpool2d", "avgpool2d"] if case == "three" else ["maxpool2d"])
        assert len(plain.steps) - len(fused.steps) == (3 if case == "three" else 2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 13, 11, 3)).astype(np.float32)
    x[0, 3, 4] = (np.inf, -np.inf, 0.0)
    for inp in (rng.integers(0, 256, (2, 13, 11, 3), np.uint8), x, np.zeros_like(x)):
        with np.errstate(invalid="ignore"):
            _assert_same(fused, plain, inp)
