"""PReLU with an optional residual: bit-exact with the masked formula PyTorch computes, in place or not."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K

SHAPES = [(1, 1, 1, 1), (2, 3, 5, 7), (1, 4, 4, 64), (3, 130), (1, 2, 2, 5)]


def _masked(x: np.ndarray, a: np.ndarray, r: np.ndarray | None) -> np.ndarray:
    v = x if r is None else x + r
    return np.where(v >= 0, v, v * a)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_residual", [False, True])
def test_prelu_matches_the_masked_formula(threads: int, shape: tuple[int, ...], with_residual: bool) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[-2:] = [0.0, -0.0][-x.size:]  # zeros of both signs pass through unchanged
    r = rng.standard_normal(shape).astype(np.float32) if with_residual else None
    a = (rng.standard_normal(shape[-1]) * 2).astype(np.float32)  # negative and > 1 slopes too
    got = K.prelu(x, a, r)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_array_equal(got, _masked(x, a, r))
    assert np.array_equal(np.signbit(got), np.signbit(_masked(x, a, r)))


@pytest.mark.parametrize("into", ["x", "residual"])
def test_prelu_may_write_over_an_input(into: str) -> None:
    rng = np.random.default_rng(3)
    x, r = (rng.standard_normal((2, 3, 3, 9)).astype(np.float32) for _ in range(2))
    a = rng.random(9).astype(np.float32)
    want = _masked(x, a, r)
    out = x if into == "x" else r
    assert K.prelu(x, a, r, out=out) is out
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(("call", "message"), [
    (lambda x, a: K.prelu(x.astype(np.float64), a), "x must have dtype float32"),
    (lambda x, a: K.prelu(x, a[:3]), r"slope must have shape \(4,\)"),
    (lambda x, a: K.prelu(x, a, x[:1]), "residual must have the shape of x"),
    (lambda x, a: K.prelu(x, a, out=np.empty((2, 2), np.float32)), "out must have the shape of x"),
    (lambda x, a: K.prelu(x, np.full(4, np.nan, np.float32)), "slope must be finite"),
])
def test_prelu_rejects_bad_arguments(call, message: str) -> None:
    x, a = np.ones((2, 3, 4), np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match=message):
        call(x, a)
