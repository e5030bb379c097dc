"""Each runtime layer against the plain numpy reference in reference_ops.py."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision.runtime import _layers as layers
from xnorvision.runtime import _threads
from xnorvision.runtime._reference import random_packed
from xnorvision.runtime._schema import Node, TensorType
from xnorvision.runtime.ops import OPS

from . import reference_ops as ref

rng = np.random.default_rng(7)


def _x(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(params=[1, 3], ids=["1-thread", "3-threads"])
def float_threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(layers, "_BLOCK_FLOATS", 1000)  # many im2col blocks per image and per worker
    monkeypatch.setattr(layers, "_GEMM_BLOCK_FLOATS", 1000)  # and many matmuls per worker for a 1x1 conv
    monkeypatch.setattr(layers, "_GRAIN_MACS", 1)  # and every one worth a thread
    monkeypatch.setattr(layers, "_GRAIN_FLOATS", 8)
    with _threads.using_threads(request.param):
        yield request.param


@pytest.mark.parametrize(("k", "stride", "pad", "groups", "cin", "cout", "size"), [
    (3, 1, 1, 1, 5, 7, 9), (7, 2, 3, 1, 3, 8, 30), (1, 1, 0, 1, 6, 4, 30), (1, 2, 0, 1, 6, 4, 9),
    (3, 2, 0, 1, 4, 4, 9), (3, 1, 1, 3, 3, 6, 9), (3, 1, 1, 4, 8, 4, 9),
    (1, 1, 0, 1, 64, 5, 13), (1, 1, 0, 1, 130, 3, 9),  # a detector's heads: 1x1 to few outputs, matmuls
    (3, 1, 1, 1, 16, 5, 9), (3, 2, 1, 1, 24, 16, 9),  # im2col + matmul with a tiled bias, and without
])
def test_float_conv(float_threads: int, k: int, stride: int, pad: int, groups: int, cin: int, cout: int,
                    size: int) -> None:
    x, w, b = _x(2, size, size + 1, cin), _x(cout, k, k, cin // groups), _x(cout)
    layer = layers.Conv2d(w, b, (stride, stride), (pad, pad), groups)
    want = ref.conv(x.astype(np.float64), w.astype(np.float64), stride, pad, groups) + b
    first = layer([x]).copy()
    np.testing.assert_allclose(first, want, rtol=1e-4, atol=1e-4)
    x2 = _x(2, size, size + 1, cin)  # same shape again: the planned buffers are reused, not stale
    np.testing.assert_allclose(layer([x2]), ref.conv(x2.astype(np.float64), w.astype(np.float64), stride, pad,
                                                     groups) + b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k", [1, 3])
def test_float_conv_few_outputs_with_relu(float_threads: int, k: int) -> None:
    """The tiled bias of a few-output conv (a head) is added before its fused ReLU, on every row block."""
    x, w, b = _x(2, 11, 12, 40), _x(5, k, k, 40), _x(5)
    layer = layers.Conv2d(w, b, (1, 1), (k // 2, k // 2), 1, relu=True)
    want = np.maximum(ref.conv(x.astype(np.float64), w.astype(np.float64), 1, k // 2, 1) + b, 0)
    np.testing.assert_allclose(layer([x]), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("padding", "pad_value", "stride", "output"), [
    ("same", 0, 1, "float"), ("same", 1, 2, "float"), ("valid", 0, 1, "bits"), ("same", 1, 1, "bits"),
])
def test_binary_conv(padding: str, pad_value: int, stride: int, output: str) -> None:
    cin, cout = 70, 9
    x = np.sign(_x(1, 6, 7, cin)) + 0.0
    w = random_packed(rng, (cout, 3, 3), cin)
    scale, bias = _x(cout), _x(cout)
    attrs = {"padding": padding, "pad_value": pad_value, "stride": stride, "output": output}
    got = layers.BinaryConv2d(w, scale, bias, cin, attrs)([ref.pack(x)])
    pad = 1 if padding == "same" else 0
    want = scale * ref.conv(x, ref.unpack(w, cin), stride, pad, pad_value=float(pad_value)) + bias
    if output == "bits":
        np.testing.assert_array_equal(got, ref.pack(want))
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_bwn_conv() -> None:
    x, w = _x(1, 5, 5, 6), random_packed(rng, (4, 3, 3), 6)
    scale, bias = _x(4), _x(4)
    got = layers.BwnConv2d(w, scale, bias, 6, {"padding": "same", "stride": 2})([x])
    want = scale * ref.conv(x.astype(np.float64), ref.unpack(w, 6), 2, 1) + bias
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("op", "k", "s", "p"), [("maxpool2d", 3, 2, 1), ("maxpool2d", 2, 2, 0),
                                                 ("avgpool2d", 3, 2, 1), ("avgpool2d", 3, 1, 1)])
def test_float_pools(op: str, k: int, s: int, p: int) -> None:
    x = _x(2, 7, 8, 3)
    got = layers.Pool(op, False, {"kernel": k, "stride": s, "padding": p})([x])
    np.testing.assert_allclose(got, ref.pool(x.astype(np.float64), k, s, p, op[:3]), rtol=1e-5, atol=1e-6)


def test_max_pool_on_bits_is_max_pool_on_signs() -> None:
    x = np.sign(_x(1, 7, 7, 100)) + 0.0
    got = layers.Pool("maxpool2d", True, {"kernel": 3, "stride": 2, "padding": 1})([ref.pack(x)])
    np.testing.assert_array_equal(got, ref.pack(ref.pool(x, 3, 2, 1, "max")))


def test_linear_layers_and_sign() -> None:
    x, w, b = _x(3, 130), _x(5, 130), _x(5)
    np.testing.assert_allclose(layers.Linear(w, b)([x]), x @ w.T + b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(layers.Sign()([x]), ref.pack(x))
    wb, scale = random_packed(rng, (5,), 130), _x(5)
    xs = np.sign(x) + 0.0
    got = layers.BinaryLinear(wb, scale, b, 130)([ref.pack(xs)])
    np.testing.assert_allclose(got, scale * (xs @ ref.unpack(wb, 130).T) + b, rtol=1e-5, atol=1e-4)


def test_add_and_affine(float_threads: int) -> None:
    a, b = _x(1, 3, 3, 4), _x(1, 3, 3, 4)
    np.testing.assert_allclose(layers.Add()([a, b]), a + b)
    scale, shift = _x(4), _x(4)
    np.testing.assert_allclose(layers.Affine(scale, shift)([a]), a * scale + shift, rtol=1e-6)


@pytest.mark.parametrize("op", ["relu", "sigmoid", "hardtanh", "prelu", "global_avgpool", "concat",
                                "upsample_nearest", "flatten", "softmax"])
def test_simple_ops(op: str) -> None:
    x = _x(2, 3, 4, 5)
    params = {"weight": _x(5)}
    attrs = {"scale": 2}
    xs = [x] if op == "prelu" else [x, x[..., :2].copy()]  # a second prelu input is a fused residual
    node = Node("n", op, ("input",), attrs)
    got = OPS[op].layer(node, params, TensorType("float", 4, 5, 3, 4))(xs)
    want = ref._op(op, attrs, [a.astype(np.float64) for a in xs], params)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_planned_buffers_are_kept_for_recent_shapes_only() -> None:
    layer = layers.Conv2d(_x(4, 3, 3, 2), None, (1, 1), (1, 1), 1)
    for size in range(4, 16):
        layer([_x(1, size, size, 2)])
    assert len(layer.buffers._by_shape) == layers._Buffers.KEEP
    x = _x(1, 5, 5, 2)  # an evicted shape is planned afresh and still right
    np.testing.assert_allclose(layer([x]), ref.conv(x.astype(np.float64), layer.wmat[0].T.reshape(4, 3, 3, 2)
                                                    .astype(np.float64), 1, 1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("slopes", ["unit", "any"])
@pytest.mark.parametrize("inputs", [1, 2])
def test_prelu_is_exactly_the_masked_formula(slopes: str, inputs: int) -> None:
    x = _x(2, 3, 4, 6)
    x[0, 0, 0] = 0.0  # zero and negative zero stay zero
    x[0, 0, 1] = -0.0
    r = _x(2, 3, 4, 6) if inputs == 2 else np.zeros_like(x)  # two inputs: the add fused before it
    a = np.abs(_x(6)) / 4 if slopes == "unit" else _x(6) * 2
    layer = layers.PReLU(a)
    got = layer([x, r][:inputs])
    assert got.dtype == np.float32
    v = x + r if inputs == 2 else x
    np.testing.assert_array_equal(got, np.where(v >= 0, v, v * a))


def test_bwn_conv_writes_a_planned_buffer() -> None:
    """One output buffer per input shape, reused on every call (a new one per batch cost the faces
    classifier's next layer its page faults); the result is the kernel's."""
    rng = np.random.default_rng(4)
    weight = random_packed(rng, (8, 3, 3), 6)
    scale, bias = rng.uniform(0.1, 1, 8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    layer = layers.BwnConv2d(weight, scale, bias, 6, {"stride": 2, "padding": "same"})
    x = rng.standard_normal((2, 9, 7, 6)).astype(np.float32)
    first = layer([x])
    np.testing.assert_array_equal(first, layers.kernels.bwn_conv2d(x, weight, 6, scale, bias, 2, "same"))
    assert layer([x]) is first and first.shape == (2, 5, 4, 8)
    assert layer([x[:1]]) is not first
