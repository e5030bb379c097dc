"""DensePlan: a linear layer on the dense kernel, the same bits on every path with fused multiply-adds,
int8 weights kept int8 only when they reproduce the float32 values exactly."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K
from xnorvision.runtime._format import _dequantize, _to_int8

FUSED = [name for name in ("avx512", "avx2", "neon")
         if K._bconv.path_supported(K._PATHS[name]) and K._fconv.dense_path(K._PATHS[name])]
pytestmark = pytest.mark.skipif(not FUSED, reason="no path with fused multiply-adds on this CPU")


def _int8_weights(rng: np.random.Generator, o: int, k: int) -> np.ndarray:
    """Weights as a file stored as int8 loads them."""
    stored = _to_int8({"w": rng.standard_normal((o, k)).astype(np.float32)})
    return _dequantize(stored["w"], stored["w@scale"])


@pytest.fixture(params=FUSED)
def fused(request: pytest.FixtureRequest):
    K._force_path(request.param)
    yield request.param
    K._force_path(None)


@pytest.mark.parametrize(("rows", "k", "o"), [(1, 512, 1000), (3, 37, 5), (24, 128, 1), (2, 9, 129),
                                              (1, 70, 16), (5, 1, 200),
                                              # a 1x1 conv's many rows: blocks of 6 and each remainder
                                              (13, 64, 200), (11, 33, 40), (9, 20, 129), (8, 7, 17),
                                              (10, 3, 48),
                                              # AVX2 copies a panel of a group out for 12 rows or more:
                                              # ResNet-18's 7x7 256 -> 512 shortcut, the largest k copied
                                              (49, 256, 512), (12, 1024, 33), (12, 1025, 20),
                                              # panels of 8 outputs or fewer (a detector's head) on AVX2:
                                              # half panels, 12 rows a pass, and the remainders past 5
                                              (23, 5, 5), (18, 16, 8), (31, 9, 3), (10, 4, 21)])
@pytest.mark.parametrize("storage", ["float32", "int8"])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_equals_the_direct_conv_as_a_1x1_conv(fused: str, threads: int, rows: int, k: int, o: int,
                                                    storage: str, bias: bool) -> None:
    """The bias, then the terms in order, one FMA each: the direct kernel's sums of a 1x1 conv, bit for bit
    (and within float32 rounding of the exact product)."""
    rng = np.random.default_rng(rows * k + o)
    w = _int8_weights(rng, o, k) if storage == "int8" else rng.standard_normal((o, k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32) if bias else None
    plan = K.DensePlan(w, b)
    assert (plan.wq is not None) == (storage == "int8")
    x = rng.standard_normal((rows, k)).astype(np.float32)
    got = plan(x)
    conv = K.DirectConvPlan(np.ascontiguousarray(w.T).reshape(1, 1, k, o), b)(x.reshape(rows, 1, 1, k))
    np.testing.assert_array_equal(got.view(np.uint32), conv.reshape(rows, o).view(np.uint32))
    exact = x.astype(np.float64) @ w.T.astype(np.float64) + (0 if b is None else b)
    np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-5 * np.sqrt(k))


def test_every_fused_path_gives_the_same_bits() -> None:
    rng = np.random.default_rng(1)
    for storage in ("float32", "int8"):
        w = (_int8_weights(rng, 300, 77) if storage == "int8"
             else rng.standard_normal((300, 77)).astype(np.float32))
        plan, x = K.DensePlan(w, rng.standard_normal(300).astype(np.float32)), rng.standard_normal((4, 77))
        results = []
        for name in FUSED:
            K._force_path(name)
            try:
                results.append(plan(x.astype(np.float32)))
            finally:
                K._force_path(None)
        for r in results[1:]:
            np.testing.assert_array_equal(r.view(np.uint32), results[0].view(np.uint32))


def test_int8_is_kept_only_where_it_gives_the_same_floats() -> None:
    rng = np.random.default_rng(2)
    w = _int8_weights(rng, 40, 50)
    q, s = K._int8_rows(w)
    np.testing.assert_array_equal((q.astype(np.float32) * s[:, None]).view(np.uint32), w.view(np.uint32))
    w[0, 0] = np.nextafter(w[0, 0], np.float32(np.inf))  # one value off by one ulp
    assert K._int8_rows(w) is None
    zero = np.zeros((3, 8), np.float32)
    assert K._int8_rows(zero) is not None
    zero[1, 2] = -0.0
    assert K._int8_rows(zero) is None  # q * s cannot make a negative zero
    assert K._int8_rows(rng.standard_normal((4, 9)).astype(np.float32)) is None


def test_a_bound_dense_layer_follows_its_input(fused: str, threads: int) -> None:
    rng = np.random.default_rng(3)
    plan = K.DensePlan(_int8_weights(rng, 70, 33), rng.standard_normal(70).astype(np.float32))
    x = rng.standard_normal((2, 33)).astype(np.float32)
    out = np.full((2, 70), np.nan, np.float32)
    bound = plan.bind(x, out)
    for _ in range(3):
        np.testing.assert_array_equal(bound.call.run(), plan(x))
        x[...] = rng.standard_normal(x.shape)
    with pytest.raises(ValueError, match="shape"):
        plan.bind(x, np.empty((2, 71), np.float32))
    with pytest.raises(ValueError, match="features"):
        plan(np.zeros((1, 32), np.float32))
