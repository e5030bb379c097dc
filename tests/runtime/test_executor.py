"""Model end to end: whole graphs against the numpy reference, folding, buffers, preprocessing, info."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xnorvision import kernels
from xnorvision.errors import ModelFormatError, XnorvisionError
from xnorvision.runtime import Model, load_xnv, save_model
from xnorvision.runtime._fold import fold
from xnorvision.runtime._reference import write_reference

from . import graphs
from . import reference_ops as ref


def _load(tmp_path: Path, model: graphs.Model, threads: int = 1) -> Model:
    graph, tensors, spec = model
    return Model.load(save_model(tmp_path / "m.xnv", graph, tensors, spec, ["x"], {}), threads=threads)


def _input(spec: dict, n: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, spec["height"], spec["width"], spec["channels"])).astype(np.float32)


@pytest.mark.parametrize("build", [graphs.chain, graphs.residual, graphs.bireal])
def test_graph_matches_numpy_reference(tmp_path: Path, build) -> None:
    graph, tensors, spec = build()
    model = _load(tmp_path, (graph, tensors, spec))
    x = _input(spec)
    got, want = model.run(x), ref.run_graph(graph, tensors, x)
    assert list(got) == graph["outputs"]
    for name in graph["outputs"]:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-3, atol=1e-3)


def test_folding_removes_batch_norms_and_fuses_signs(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    steps, outputs, types = fold(load_xnv(save_model(tmp_path / "c.xnv", graph, tensors, spec, [], {})))
    ops = [s.node.op for s in steps]
    assert "batch_norm" not in ops and ops.count("sign") == 1  # the sign after prelu stays
    b1 = next(s for s in steps if s.node.name == "b1")
    assert b1.node.attrs["output"] == "bits" and types["b1"].kind == "bits"
    assert outputs == ["prob", "ht"]


def test_a_residual_add_fuses_into_the_binary_conv_or_the_prelu(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Into the binary conv's epilogue (with the prelu and the next sign); else into the prelu after it."""
    from xnorvision.runtime import _fold

    graph, tensors, spec = graphs.bireal()
    file = load_xnv(save_model(tmp_path / "b.xnv", graph, tensors, spec, [], {}))
    steps, outputs, _ = fold(file)
    by_name = {s.node.name: s for s in steps}
    b1, b2 = by_name["b1"].node, by_name["b2"].node
    assert b1.inputs == ("s1", "conv") and b1.attrs["fused_add"] and b1.attrs["fused_prelu"]
    assert b1.attrs["bits_output"] == "s2" and not {"sum1", "act1", "s2"} & set(by_name)
    assert b2.inputs == ("s2", "b1") and b2.attrs["fused_add"] and "fused_prelu" not in b2.attrs
    assert by_name["act2"].node.inputs == ("b2",)  # sum2 is an output: its prelu stays a step
    assert outputs == ["act2", "b2"]
    monkeypatch.setattr(_fold, "_fuse_add", lambda *args: None)
    steps, outputs, _ = fold(file)
    by_name = {s.node.name: s for s in steps}
    assert by_name["sum1"].node.op == "prelu" and by_name["sum1"].node.inputs == ("b1", "conv")
    assert "act1" not in by_name and by_name["s2"].node.inputs == ("sum1",)
    assert by_name["sum2"].node.op == "add" and by_name["act2"].node.op == "prelu"  # sum2 is an output
    assert outputs == ["act2", "sum2"]


def test_unfoldable_batch_norm_runs_standalone(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.residual()
    steps, _, _ = fold(load_xnv(save_model(tmp_path / "r.xnv", graph, tensors, spec, [], {})))
    assert [s.node.name for s in steps if s.node.op == "batch_norm"] == ["bn_s"]
    assert "relu" not in [s.node.op for s in steps]  # fused into the depthwise conv before it


def test_folding_that_overflows_float32_is_a_format_error(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    tensors["bn0.weight"] = np.full(8, 1e30, np.float32)
    tensors["conv.weight"] = tensors["conv.weight"] * np.float32(1e10)
    with pytest.raises(ModelFormatError, match="'conv': weight is not finite after batch norm folding"):
        _load(tmp_path, (graph, tensors, spec))


def test_a_tensor_read_twice_by_one_node(tmp_path: Path) -> None:
    graph = {"inputs": ["input"], "outputs": ["twice"], "nodes": [
        {"name": "r", "op": "relu", "inputs": ["input"]},
        {"name": "twice", "op": "add", "inputs": ["r", "r"]}]}
    model = _load(tmp_path, (graph, {}, graphs.SPEC))
    x = _input(graphs.SPEC)
    np.testing.assert_allclose(model.run(x)["twice"], 2 * np.maximum(x, 0))


def test_outputs_survive_the_next_call(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    model = _load(tmp_path, graphs.chain())
    a, b = _input(spec, seed=1), _input(spec, seed=2)
    first = model.run(a)["ht"]
    kept = first.copy()
    second = model.run(b)["ht"]
    np.testing.assert_array_equal(first, kept)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(model.run(a)["ht"], kept)


def test_images_are_preprocessed_by_the_input_spec(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    model = _load(tmp_path, (graph, tensors, spec))
    img = np.random.default_rng(3).integers(0, 256, (13, 11, 3), dtype=np.uint8)
    x = model.preprocess(img)
    rgb = img[..., ::-1].astype(np.float64) / 255
    want = (rgb - np.array(spec["mean"])) / np.array(spec["std"])
    np.testing.assert_allclose(x[0], want, rtol=1e-5, atol=1e-5)
    # batched vs single: BLAS may sum in another order (seen 1.02e-6 apart on aarch64)
    np.testing.assert_allclose(model(img), model.run(x)["prob"], rtol=1e-5)
    big = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)  # resized to the model's size
    assert model.preprocess(big).shape == (1, 13, 11, 3)
    assert model(np.stack([img, img])).shape == (2, 5)
    np.testing.assert_allclose(model([img, big])[0], model(img)[0], rtol=1e-5)  # a list may mix sizes
    gray = img[..., 0]
    assert np.array_equal(model.preprocess(gray), model.preprocess(gray[..., None]))  # gray -> BGR


@pytest.mark.parametrize(("build", "reads_images"), [(graphs.chain, True), (graphs.residual, False)])
def test_a_direct_first_conv_reads_images_bit_exactly(tmp_path: Path, build, reads_images: bool) -> None:
    """A direct-kernel first conv normalises uint8 images itself; a depthwise one gets the float tensor."""
    graph, tensors, spec = build()
    model = _load(tmp_path, (graph, tensors, spec))
    assert model._first_layer_reads_images is reads_images
    rng = np.random.default_rng(4)
    for shape in [(13, 11, 3), (3, 13, 11, 3), (13, 11)]:  # one image, a batch, a grey image
        batch = rng.integers(0, 256, shape, dtype=np.uint8)
        got, want = model.run(batch), model.run(model.preprocess(batch))
        for name in graph["outputs"]:
            np.testing.assert_array_equal(got[name], want[name])


def test_bad_inputs_are_user_errors(tmp_path: Path) -> None:
    model = _load(tmp_path, graphs.chain())
    with pytest.raises(XnorvisionError, match="the model takes 13x11"):
        model.run(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(XnorvisionError, match="expected uint8 BGR images"):
        model(np.zeros((2, 2, 2, 2, 2), np.uint8))
    with pytest.raises(XnorvisionError, match="expected uint8 BGR images"):
        model([np.zeros((4, 4, 3), np.float32)])
    with pytest.raises(XnorvisionError, match="no images"):
        model([])
    with pytest.raises(XnorvisionError, match="threads"):
        model.set_threads(0)


def test_any_size_model_plans_each_size(tmp_path: Path) -> None:
    graph, tensors, spec = graphs.chain()
    b3 = graph["nodes"][9]
    graph["nodes"] = graph["nodes"][:9]  # up to the maxpool on bits: fully convolutional
    graph["nodes"].append({"name": "head", "op": "binary_conv2d", "inputs": ["mp"],
                           "attrs": {**b3["attrs"], "stride": 1}})
    keep = {k: v for k, v in tensors.items() if k.split(".")[0] in {n["name"] for n in graph["nodes"]}}
    keep.update({f"head.{k}": tensors[f"b3.{k}"] for k in ("weight", "scale", "bias")})
    graph["outputs"] = ["head"]
    model = _load(tmp_path, (graph, keep, {**spec, "height": None, "width": None}), threads=2)
    for h, w in ((13, 11), (20, 16), (13, 11)):
        x = _input({"height": h, "width": w, "channels": 3}, n=1, seed=h)
        np.testing.assert_allclose(model.run(x)["head"], ref.run_graph(graph, keep, x)["head"], rtol=1e-3,
                                   atol=1e-3)
    with pytest.raises(XnorvisionError, match="does not fit this model: node 'b1'.*2.3 GiB per image"):
        model.run(np.zeros((1, 6000, 6000, 3), np.float32))  # calloc'd: untouched pages cost nothing
    with pytest.raises(XnorvisionError, match="different sizes"):
        model([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 9, 3), np.uint8)])
    with pytest.raises(XnorvisionError, match="input has 4 channels"):
        model.run(np.zeros((1, 5, 5, 4), np.float32))


def test_info_counts_macs_params_and_bytes(tmp_path: Path) -> None:
    info = Model.load(write_reference("vgg-small", tmp_path / "v.xnv")).info()
    convs = [(128, 128, 32), (128, 256, 16), (256, 256, 16), (256, 512, 8), (512, 512, 8)]
    assert info["macs"]["binary"] == sum(9 * ci * co * s * s for ci, co, s in convs)
    assert info["macs"]["float"] == 9 * 3 * 128 * 32 * 32 + 8192 * 10
    assert info["params"]["binary"] == sum(9 * ci * co for ci, co, _ in convs)
    assert info["weight_bytes"] * 15 < info["float32_weight_bytes"]
    assert info["file_bytes"] == (tmp_path / "v.xnv").stat().st_size
    # peak: the input (12 KB) plus the first float conv output (512 KB) and its batch norm (512 KB)
    assert info["peak_activation_bytes"] == 32 * 32 * 3 * 4 + 2 * 32 * 32 * 128 * 4


@pytest.mark.torch
def test_reference_resnet18_matches_its_torch_twin(tmp_path: Path) -> None:
    """The float32 baseline of `bench model` computes the same function as the runtime."""
    import torch

    from xnorvision.bench._torch_graph import build_torch_module

    path = write_reference("resnet18", tmp_path / "r.xnv")
    model = Model.load(path, threads=1)
    x = _input(model.input_spec, n=1)
    with torch.inference_mode():
        want = build_torch_module(load_xnv(path))(torch.from_numpy(x).permute(0, 3, 1, 2))[0].numpy()
    np.testing.assert_allclose(model.run(x)["logits"], want, rtol=1e-3, atol=1e-3)


@pytest.mark.torch
@pytest.mark.parametrize("build", [graphs.chain, graphs.residual])
def test_torch_twin_of_small_graphs(tmp_path: Path, build) -> None:
    """Every op of the float32 baseline (padding with +1, flatten order, groups...) matches the reference."""
    import torch

    from xnorvision.bench._torch_graph import build_torch_module

    graph, tensors, spec = build()
    file = load_xnv(save_model(tmp_path / "m.xnv", graph, tensors, spec, [], {}))
    x = _input(spec)
    with torch.inference_mode():
        got = build_torch_module(file)(torch.from_numpy(x).permute(0, 3, 1, 2))
    want = ref.run_graph(graph, tensors, x)
    for name, value in zip(graph["outputs"], got, strict=True):
        value = value.numpy()
        if value.ndim == 4:
            value = value.transpose(0, 2, 3, 1)
        np.testing.assert_allclose(value, want[name], rtol=1e-3, atol=1e-3)


def _steps(tmp_path: Path, model: graphs.Model) -> dict:
    graph, tensors, spec = model
    steps, outputs, types = fold(load_xnv(save_model(tmp_path / "f.xnv", graph, tensors, spec, [], {})))
    return {s.node.name: s for s in steps}, outputs, types


def _unfused(tmp_path: Path, model: graphs.Model, monkeypatch: pytest.MonkeyPatch, threads: int) -> Model:
    from xnorvision.runtime import _fold

    with monkeypatch.context() as m:
        m.setattr(_fold, "_fused_pool", lambda conv, pool: 0)
        graph, tensors, spec = model
        return Model.load(save_model(tmp_path / "u.xnv", graph, tensors, spec, ["x"], {}), threads=threads)


# ResNet's max pool (3x3, stride 2, padding 1) and a detector's (2x2, stride 2); the pooled size of the 7x6
# conv output of a 13x11 input
STEM_POOLS = {2: ({"kernel": 2, "stride": 2, "padding": 0}, (3, 3)),
              3: ({"kernel": 3, "stride": 2, "padding": 1}, (4, 3))}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("c_in", [3, 1])
@pytest.mark.parametrize("pool", [2, 3])
def test_a_stem_max_pool_fuses_into_the_conv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int,
                                             c_in: int, pool: int) -> None:
    """conv -> bn -> relu -> maxpool is one step, bit for bit the unfused graph's, float or uint8 input."""
    from xnorvision import kernels

    monkeypatch.setattr(kernels, "_PARALLEL_FLOAT_MACS", 1)  # 2 threads go parallel even on small inputs
    monkeypatch.setattr(kernels, "_PARALLEL_FLOAT_MACS_PORTABLE", 1)
    attrs, size = STEM_POOLS[pool]
    model = graphs.stem_pool(c_in=c_in, pool=attrs)
    steps, outputs, types = _steps(tmp_path, model)
    assert list(steps) == ["conv", "bwn", "gap"] and outputs == ["gap", "bwn"]
    conv = steps["conv"].node
    assert conv.attrs["fused_relu"] is True and conv.attrs["fused_maxpool"] == pool
    assert steps["bwn"].node.inputs == ("conv",)
    assert (types["conv"].h, types["conv"].w, types["conv"].channels) == (*size, 16)
    fused = _load(tmp_path, model, threads=threads)
    plain = _unfused(tmp_path, model, monkeypatch, threads)
    assert len(plain._steps) == 4 and len(fused._steps) == 3
    assert fused._first_layer_reads_images and plain._first_layer_reads_images  # uint8 through the table
    spec = model[2]
    x = _input(spec, n=3)
    x[0, 4, 5, 0] = np.nan
    images = np.random.default_rng(5).integers(0, 256, (2, 13, 11, 3), np.uint8)
    for inp in (x, images, images[0]):
        got, want = fused.run(inp), plain.run(inp)
        for name in ("gap", "bwn"):
            np.testing.assert_array_equal(got[name].view(np.uint32), want[name].view(np.uint32))
    # and by hand: the unfused kernels on the first conv's folded parameters
    layer = fused._steps[0][2]
    pooled = layer([x])
    direct = np.ascontiguousarray(layer.direct)
    conv = kernels.conv2d_small(x, direct, layer.bias, 2, 1, True)
    want = kernels.maxpool2d(conv, 2, 2) if pool == 2 else kernels.maxpool2d(conv, 3, 2, 1)
    np.testing.assert_array_equal(pooled.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("pool", [2, 3])
def test_the_sign_after_a_stem_fuses_into_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              pool: int) -> None:
    """An XNOR network's stem: the sign of the (pooled) conv comes out of the conv's epilogue beside the
    floats a shortcut still reads, and the binary conv after it gets the same bits as from a sign step."""
    from xnorvision.runtime import _fold

    model = graphs.stem_pool(after_pool="sign", pool=STEM_POOLS[pool][0])
    steps, outputs, _ = _steps(tmp_path, model)
    conv = steps["conv"].node
    assert conv.attrs["bits_output"] == "sign" and "sign" not in steps
    assert conv.attrs["fused_maxpool"] == pool
    assert steps["bin"].node.inputs == ("sign",) and "conv" in outputs  # the pooled floats, renamed
    fused = _load(tmp_path, model)
    with monkeypatch.context() as m:
        m.setattr(_fold, "_bits_beside", lambda *args: False)
        graph, tensors, spec = model
        plain = Model.load(save_model(tmp_path / "u.xnv", graph, tensors, spec, ["x"], {}), threads=1)
    assert len(plain._steps) == len(fused._steps) + 1
    x = _input(model[2], n=2)
    images = np.random.default_rng(6).integers(0, 256, (2, 13, 11, 3), np.uint8)
    for inp in (x, images):
        got, want = fused.run(inp), plain.run(inp)
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_array_equal(got[name].view(np.uint32), want[name].view(np.uint32))


def test_which_convs_take_the_direct_kernel() -> None:
    from xnorvision.runtime._layers import Conv2d

    assert Conv2d.takes_direct((16, 3, 3, 3), 1) and Conv2d.takes_direct((64, 1, 1, 64), 1)
    assert Conv2d.takes_direct((64, 7, 7, 3), 1)  # an image input at any kernel size (ResNet's stem)
    assert not Conv2d.takes_direct((64, 3, 3, 32), 1)  # 288 taps x channels: im2col + BLAS, no pooling
    assert not Conv2d.takes_direct((16, 3, 3, 1), 3)  # grouped
    # 1x1 to few outputs from many channels (the faces proposal net's stride-8 head): AVX2's few-output
    # tile, else a matmul, which does not waste 11 of the direct kernel's 16 output lanes; from few
    # channels or to 16 outputs: direct
    few = kernels.float_path() == "avx2"
    assert Conv2d.takes_direct((5, 1, 1, 64), 1) is few and Conv2d.takes_direct((7, 1, 1, 32), 1) is few
    assert Conv2d.takes_direct((5, 1, 1, 16), 1) and Conv2d.takes_direct((16, 1, 1, 64), 1)
    assert Conv2d.takes_direct((5, 3, 3, 3), 1)  # an image input's few outputs: not a 1x1


@pytest.mark.parametrize("path", [name for name, code in kernels._PATHS.items()
                                  if kernels._bconv.path_supported(code)])
def test_1x1_convs_from_more_channels_take_the_direct_kernel_on_avx512(path: str) -> None:
    """ResNet-18's shortcuts (1x1 from 128 and 256 channels): the direct kernel splits their pixels among
    OpenMP threads on AVX-512; elsewhere BLAS is faster. Up to 64 channels every path takes the kernel."""
    from xnorvision.runtime._layers import Conv2d

    try:
        kernels._force_path(path)
        avx512 = path == "avx512"
        assert Conv2d.takes_direct((256, 1, 1, 128), 1) is avx512
        assert Conv2d.takes_direct((512, 1, 1, 256), 1) is avx512
        assert Conv2d.takes_direct((128, 1, 1, 64), 1)
        assert not Conv2d.takes_direct((512, 1, 1, 512), 1)  # not measured: BLAS
        assert Conv2d.takes_direct((5, 1, 1, 128), 1) is (path == "avx2")  # a head: AVX2's few-output tile
        assert not Conv2d.takes_direct((256, 3, 3, 128), 1) and not Conv2d.takes_direct((64, 1, 1, 128), 2)
    finally:
        kernels._force_path(None)


@pytest.mark.parametrize("path", [name for name, code in kernels._PATHS.items()
                                  if kernels._bconv.path_supported(code)])
@pytest.mark.parametrize("relu", [False, True])
def test_a_1x1_head_conv_sums_as_the_dense_kernel_does(path: str, relu: bool) -> None:
    """A detector's head (1x1, few outputs from many channels) runs on AVX2's few-output direct tile, else
    on the dense kernel where the CPU has FMA: either way the bias, then one FMA a channel in order (the
    same bits on every FMA path), close to the exact sum; elsewhere (with a fused ReLU, or without FMA) it
    is BLAS's matmul."""
    from xnorvision.runtime._layers import Conv2d

    rng = np.random.default_rng(5)
    w, b = rng.standard_normal((5, 1, 1, 64)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    x = rng.standard_normal((2, 7, 9, 64)).astype(np.float32)
    try:
        kernels._force_path(path)
        layer = Conv2d(w, b, (1, 1), (0, 0), 1, relu=relu)
        assert (layer.plan is not None) == (path == "avx2")
        assert (layer.dense is not None) == (path != "avx2" and kernels.dense_available() and not relu)
        got = layer([x])
        fused = layer.plan is not None or layer.dense is not None
        dense = kernels.DensePlan(w.reshape(5, 64), b)(x.reshape(-1, 64)) if fused else None
    finally:
        kernels._force_path(None)
    exact = x.astype(np.float64).reshape(-1, 64) @ w.reshape(5, 64).T.astype(np.float64) + b
    want = np.maximum(exact, 0) if relu else exact
    np.testing.assert_allclose(got.reshape(-1, 5), want, rtol=1e-5, atol=1e-4)
    if dense is not None:
        expect = np.maximum(dense, 0) if relu else dense
        np.testing.assert_array_equal(got.reshape(-1, 5).view(np.uint32), expect.view(np.uint32))


@pytest.mark.parametrize(("kwargs", "fused"), [
    ({"after_pool": "relu"}, 2),  # a ReLU after the pool is a step of its own
    ({"after_pool": "pool"}, 2),  # and so is a second pool
    ({"extra_reader": True}, None),  # the pool's input is read twice
    ({"pool": {"kernel": 2, "stride": 1, "padding": 0}}, None),
    ({"pool": {"kernel": 3, "stride": 2, "padding": 1}}, 3),  # ResNet's
    ({"pool": {"kernel": 3, "stride": 2, "padding": 0}}, None),
    ({"pool": {"kernel": 3, "stride": 1, "padding": 1}}, None),
    ({"pool": {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]}}, 2),
    ({"pool": {"kernel": 2}}, 2),  # stride defaults to the kernel, padding to 0
    ({"k": 5}, 2),  # 75 taps x channels, but of an image: still the direct kernel
])
def test_which_max_pools_fuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict,
                              fused: int | None) -> None:
    """``fused``: the conv's fused_maxpool (2 or 3), None where the pool stays a step."""
    model = graphs.stem_pool(**kwargs)
    steps, _, types = _steps(tmp_path, model)
    assert ("pool" not in steps) is (fused is not None)
    assert steps["conv"].node.attrs.get("fused_maxpool") == fused
    assert steps["conv"].node.attrs["fused_relu"] is True
    if fused:
        assert types["conv"] == types["pool"]
    for name in ("relu2", "pool2"):
        if name in model[0]["outputs"]:
            assert name in steps  # not fused into the pooled conv
    got = _load(tmp_path, model).run(_input(model[2]))
    want = _unfused(tmp_path, model, monkeypatch, 1).run(_input(model[2]))
    for name in model[0]["outputs"]:
        np.testing.assert_array_equal(got[name].view(np.uint32), want[name].view(np.uint32))



@pytest.mark.parametrize("build", [graphs.peers, graphs.bireal_blocks])
def test_conv_layers_are_checked_at_load_not_per_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      build) -> None:
    """A run calls the conv kernels through plans checked at load (or at the first run of an input size),
    never the public re-checking face: float tensors and uint8 images (the stem reads those itself)."""
    model = _load(tmp_path, build())
    x = _input(model.input_spec)
    spec = model.input_spec
    images = np.random.default_rng(1).integers(0, 256, (2, spec["height"], spec["width"], 3), np.uint8)
    want, want_images = model.run(x), model.run(images)

    def rechecked(*_: object, **__: object) -> None:
        raise AssertionError("a layer re-checked its fixed arguments on a call")

    for name in ("binary_conv2d_fused", "bwn_conv2d", "_binary_conv_args", "_bwn_weight_shape",
                 "conv2d_small", "_conv2d_small_args"):
        monkeypatch.setattr(kernels, name, rechecked)
    for inp, expected in ((x, want), (images, want_images)):
        got = model.run(inp)
        assert got.keys() == expected.keys()
        for k in expected:
            np.testing.assert_array_equal(got[k], expected[k])
