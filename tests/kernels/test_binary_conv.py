"""binary_conv2d, its fused variant and xnor_gemm against the float ±1 reference: bit-exact."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref

# (n, h, w, c_in, o, kh, kw): C off multiples of 64, 1x1 and 1xN images, odd O, 5x5 and 1x1 kernels, taps of
# 2 and 8 words in more taps than AVX2 runs between flushes of its byte counters (15 and 3 taps of those), and
# a tap of more words than they hold (33 > 31: its stretches split the tap)
SHAPES = [
    (2, 6, 7, 70, 9, 3, 3),
    (1, 1, 1, 64, 33, 1, 1),
    (1, 1, 9, 130, 40, 1, 3),
    (3, 5, 5, 3, 65, 3, 3),
    (1, 8, 6, 200, 32, 5, 5),
    (1, 4, 4, 512, 96, 3, 3),
    (1, 3, 4, 2100, 20, 3, 3),
    (1, 7, 6, 100, 24, 5, 5),
    (1, 5, 5, 450, 17, 5, 5),
]
PADDINGS = ["valid", "same_zero", "same_one"]


def _random_packed(rng: np.random.Generator, shape: tuple[int, ...], c: int, junk: bool) -> np.ndarray:
    """Packed random signs; ``junk`` sets the unused high bits, which must never change a result."""
    p = ref.pack_bits(rng.standard_normal((*shape, c)).astype(np.float32))
    if junk and c % 64:
        p[..., -1] |= ~np.uint64((1 << (c % 64)) - 1)
    return np.ascontiguousarray(p)


def _case(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    n, h, w, c, o, kh, kw = shape
    return _random_packed(rng, (n, h, w), c, True), _random_packed(rng, (o, kh, kw), c, True)


def _fits(shape: tuple[int, ...], stride: int, padding: str) -> bool:
    _, h, w, _, _, kh, kw = shape
    ph, pw = (ref.same_pad(kh), ref.same_pad(kw)) if padding != "valid" else (0, 0)
    return h + 2 * ph >= kh and w + 2 * pw >= kw


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_binary_conv2d_matches_reference(simd: str, threads: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(hash(shape) % 2**32)
    x, w = _case(rng, shape)
    for stride in (1, 2):
        for padding in PADDINGS:
            if not _fits(shape, stride, padding):
                continue
            got = K.binary_conv2d(x, w, shape[3], stride, padding)
            want = ref.binary_conv2d(x, w, shape[3], stride, padding)
            assert got.dtype == np.int32 and got.shape == want.shape
            np.testing.assert_array_equal(got, want, err_msg=f"stride {stride} {padding}")


@pytest.mark.parametrize("shape", SHAPES[:4], ids=lambda s: "x".join(map(str, s)))
def test_fused_matches_affine_of_reference(simd: str, threads: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1 + hash(shape) % 2**32)
    x, w = _case(rng, shape)
    o = shape[4]
    # mixed signs, zero scales, and biases that make y == 0 exactly for some acc (y == 0 is +1)
    scale = rng.choice([-0.75, -0.5, 0.0, 0.25, 1.5], o).astype(np.float32)
    bias = (rng.integers(-6, 7, o) * 0.25).astype(np.float32)
    for stride in (1, 2):
        for padding in PADDINGS:
            if not _fits(shape, stride, padding):
                continue
            acc = ref.binary_conv2d(x, w, shape[3], stride, padding)
            y = ref.affine(acc, scale, bias)
            got = K.binary_conv2d_fused(x, w, shape[3], scale, bias, stride, padding, output="float")
            np.testing.assert_array_equal(got, y)
            bits = K.binary_conv2d_fused(x, w, shape[3], scale, bias, stride, padding, output="bits")
            np.testing.assert_array_equal(bits, ref.pack_bits(y))


def test_fused_bits_exact_at_rounding_edges() -> None:
    """Random float scales/biases over the whole acc range: the integer threshold equals the float test."""
    rng = np.random.default_rng(7)
    c, o = 100, 64
    x = _random_packed(rng, (1, 4, 4), c, False)
    w = _random_packed(rng, (o, 3, 3), c, False)
    acc = ref.binary_conv2d(x, w, c, 1, "same_one")
    scale = rng.standard_normal(o).astype(np.float32) * np.float32(1e-3)
    bias = -scale * acc[0, 1, 1, :].astype(np.float32)  # y lands on or next to 0 at one pixel per channel
    bits = K.binary_conv2d_fused(x, w, c, scale, bias, 1, "same_one", output="bits")
    np.testing.assert_array_equal(bits, ref.pack_bits(ref.affine(acc, scale, bias)))


@pytest.mark.parametrize(("m", "n", "k"),
                         [(1, 1, 1), (7, 5, 63), (13, 33, 130), (40, 64, 1024), (9, 17, 2500)])
def test_xnor_gemm_matches_reference(simd: str, threads: int, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(m * n * k)
    a = _random_packed(rng, (m,), k, True)
    b = _random_packed(rng, (n,), k, True)
    np.testing.assert_array_equal(K.xnor_gemm(a, b, k), ref.xnor_gemm(a, b, k))


def test_prepared_weights_give_the_same_results(simd: str, threads: int) -> None:
    rng = np.random.default_rng(11)
    shape = (2, 5, 6, 100, 40, 3, 3)
    x, w = _case(rng, shape)
    prepared = K.BinaryConvWeights(w, 100)
    w_before = w.copy()
    w[...] = 0  # the prepared copy must not see later changes
    scale, bias = rng.standard_normal(40).astype(np.float32), rng.standard_normal(40).astype(np.float32)
    for padding in PADDINGS:
        want = ref.binary_conv2d(x, w_before, 100, 2, padding)
        np.testing.assert_array_equal(K.binary_conv2d(x, prepared, 100, 2, padding), want)
        bits = K.binary_conv2d_fused(x, prepared, 100, scale, bias, 2, padding, output="bits")
        np.testing.assert_array_equal(bits, ref.pack_bits(ref.affine(want, scale, bias)))
    with pytest.raises(ValueError, match="prepared weights were made for c_in = 100"):
        K.binary_conv2d(x, prepared, 128)


def test_prepared_weights_start_on_cache_lines(simd: str) -> None:
    """Every block's weights are whole cache lines: no vector load of them spans two."""
    rng = np.random.default_rng(5)
    for o, c in [(64, 64), (96, 130), (512, 512)]:
        w = K.BinaryConvWeights(_random_packed(rng, (o, 3, 3), c, False), c)
        blocks = w._prepared[0]
        assert blocks.ctypes.data % 64 == 0 and blocks.strides[0] % 64 == 0


@pytest.mark.parametrize("shape", SHAPES[:4], ids=lambda s: "x".join(map(str, s)))
def test_fused_epilogue_matches_reference(simd: str, threads: int, shape: tuple[int, ...]) -> None:
    """Residual add, PReLU and the packed signs in the conv's epilogue: bit for bit the unfused float ops."""
    rng = np.random.default_rng(2 + hash(shape) % 2**32)
    x, w = _case(rng, shape)
    o = shape[4]
    scale = rng.choice([-0.75, -0.5, 0.0, 0.25, 1.5], o).astype(np.float32)
    bias = (rng.integers(-6, 7, o) * 0.25).astype(np.float32)
    slope = rng.standard_normal(o).astype(np.float32)  # negative slopes flip signs: no threshold can
    for stride in (1, 2):
        for padding in PADDINGS:
            if not _fits(shape, stride, padding):
                continue
            y = ref.affine(ref.binary_conv2d(x, w, shape[3], stride, padding), scale, bias)
            # quarter steps: some sums land exactly on 0, whose bit is 0
            residual = (rng.integers(-8, 9, y.shape) * 0.25).astype(np.float32)
            added = y + residual
            for with_slope in (False, True):
                want = np.where(added < 0, slope * added, added) if with_slope else added
                args = (x, w, shape[3], scale, bias, stride, padding)
                sl = slope if with_slope else None
                got, bits = K.binary_conv2d_fused(*args, output="both", residual=residual, slope=sl)
                np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
                np.testing.assert_array_equal(bits, ref.pack_bits(want))
                only = K.binary_conv2d_fused(*args, output="float", residual=residual, slope=sl)
                np.testing.assert_array_equal(only.view(np.uint32), want.view(np.uint32))
            got, bits = K.binary_conv2d_fused(*args, output="both")  # the signs of y alone
            np.testing.assert_array_equal(got, y)
            np.testing.assert_array_equal(bits, ref.pack_bits(y))


@pytest.mark.parametrize("o", [32, 64, 70])
def test_fused_signs_fail_on_a_nan_anywhere(simd: str, threads: int, o: int) -> None:
    """A NaN result in any channel of any pixel fails the signs, in whole blocks of 32 channels (the vector
    epilogues) as in a short last block."""
    rng = np.random.default_rng(o)
    x, w = _case(rng, (1, 3, 5, 64, o, 3, 3))
    scale, bias = np.ones(o, np.float32), np.zeros(o, np.float32)
    for pix, ch in [(0, 0), (7, o - 1), (14, 31), (6, o // 2 + 3)]:
        residual = np.zeros((1, 3, 5, o), np.float32)
        residual.reshape(15, o)[pix, ch] = np.nan
        with pytest.raises(ValueError, match="contains NaN"):
            K.binary_conv2d_fused(x, w, 64, scale, bias, output="both", residual=residual)
        y = K.binary_conv2d_fused(x, w, 64, scale, bias, output="float", residual=residual)
        assert np.isnan(y.reshape(15, o)[pix, ch]) and np.isnan(y).sum() == 1


def test_fused_epilogue_rejects_what_it_cannot_do(simd: str) -> None:
    rng = np.random.default_rng(3)
    x, w = _case(rng, (1, 4, 4, 70, 9, 3, 3))
    scale, bias = np.ones(9, np.float32), np.zeros(9, np.float32)
    residual = np.zeros((1, 4, 4, 9), np.float32)
    with pytest.raises(ValueError, match="output 'float' or 'both'"):
        K.binary_conv2d_fused(x, w, 70, scale, bias, output="bits", residual=residual)
    with pytest.raises(ValueError, match=r"residual must have the output's shape \(1, 2, 2, 9\)"):
        K.binary_conv2d_fused(x, w, 70, scale, bias, 2, output="both", residual=residual)
    with pytest.raises(ValueError, match="slope must be finite"):
        K.binary_conv2d_fused(x, w, 70, scale, bias, slope=np.full(9, np.inf, np.float32))
    residual[0, 1, 2, 5] = np.nan  # its sign is undefined, as pack_bits says
    with pytest.raises(ValueError, match="contains NaN"):
        K.binary_conv2d_fused(x, w, 70, scale, bias, output="both", residual=residual)
    y = K.binary_conv2d_fused(x, w, 70, scale, bias, output="float", residual=residual)
    assert np.isnan(y[0, 1, 2, 5]) and np.isfinite(np.delete(y.ravel(), 1 * 4 * 9 + 2 * 9 + 5)).all()
