"""bwn_conv2d: float input, ±1 weights, per-channel scale and bias."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref
from .conftest import PATHS

# (n, h, w, c, o, kh, kw), stride, padding
SHAPES = [
    ((2, 9, 8, 3, 16, 3, 3), 1, "same"),  # 3 channels: one group of 4 taps, the last tap zero
    ((1, 9, 8, 3, 16, 3, 3), 2, "same"),
    ((1, 6, 6, 70, 5, 3, 3), 1, "valid"),  # channels past a whole octet, 5 outputs (one part block)
    ((1, 5, 4, 20, 8, 1, 1), 1, "valid"),
    ((1, 7, 7, 8, 4, 5, 5), 2, "same"),
    ((1, 11, 13, 5, 9, 3, 1), 2, "same"),  # a kernel of one column: odd rows and columns
    ((1, 16, 52, 16, 64, 3, 3), 2, "same"),  # the faces proposal net's BWN stem (its 80x104 input, cut)
    ((24, 8, 8, 16, 32, 3, 3), 1, "same"),  # the faces classifier's, on its 24 crops
    ((1, 5, 30, 24, 40, 3, 3), 1, "same"),
    ((1, 5, 30, 8, 65, 3, 3), 1, "same"),  # two words of signs
    ((2, 5, 9, 300, 70, 3, 3), 1, "same"),  # 675 groups: the tables in chunks, partial sums kept between
]


@pytest.mark.parametrize(("shape", "stride", "padding"), SHAPES)
def test_bwn_sums_in_its_documented_order(simd: str, threads: int, shape: tuple[int, ...], stride: int,
                                          padding: str) -> None:
    """Bit for bit the numpy reference of the table kernel's order (``xnv_bwn.h``), on every path, thread
    count and shape: plain, with PReLU, and the signs beside it."""
    n, h, w, c, o, kh, kw = shape
    rng = np.random.default_rng(sum(shape))
    x, wp, scale, bias, slope = _bwn_args(rng, shape)
    ph, pw = (ref.same_pad(kh), ref.same_pad(kw)) if padding == "same" else (0, 0)
    _same_bits(K.bwn_conv2d(x, wp, c, scale, bias, stride, padding),
               ref.bwn_conv2d(x, wp, c, scale, bias, stride, ph, pw))
    want = ref.bwn_conv2d(x, wp, c, scale, bias, stride, ph, pw, slope)
    got, bits = K.bwn_conv2d(x, wp, c, scale, bias, stride, padding, slope, "both")
    _same_bits(got, want)
    _same_bits(bits, ref.pack_bits(want))


@pytest.mark.parametrize(("shape", "stride", "padding"), SHAPES)
def test_bwn_is_the_convolution_to_float32_rounding(shape: tuple[int, ...], stride: int,
                                                    padding: str) -> None:
    """The documented order is a convolution: float64 direct sums of the ±1 weights, scaled and biased."""
    n, h, w, c, o, kh, kw = shape
    rng = np.random.default_rng(sum(shape))
    x, wp, scale, bias, _ = _bwn_args(rng, shape)
    ph, pw = (ref.same_pad(kh), ref.same_pad(kw)) if padding == "same" else (0, 0)
    want = scale * ref.conv_float(x, ref.unpack_bits(wp, c), stride, ph, pw, 0.0) + bias
    got = K.bwn_conv2d(x, wp, c, scale, bias, stride, padding)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(kh * kw * c))


def test_bwn_sees_changed_weights_scale_and_bias() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4, 4, 8)).astype(np.float32)
    wp = ref.pack_bits(rng.standard_normal((4, 3, 3, 8)).astype(np.float32))
    one, zero = np.ones(4, np.float32), np.zeros(4, np.float32)
    before = K.bwn_conv2d(x, wp, 8, one, zero, 1, "same")
    wp[0] ^= np.uint64(0xFF)  # same array object, new contents
    after = K.bwn_conv2d(x, wp, 8, one, zero, 1, "same")
    want = ref.conv_float(x, ref.unpack_bits(wp, 8), 1, 1, 1, 0.0)
    np.testing.assert_allclose(after, want, rtol=1e-4, atol=1e-4)
    assert not np.allclose(before[..., 0], after[..., 0])
    one[1], zero[2] = 3.0, -1.0  # same scale/bias arrays, new values
    got = K.bwn_conv2d(x, wp, 8, one, zero, 1, "same")
    np.testing.assert_allclose(got, one * want + zero, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [
    (1, 16, 52, 16, 64, 2),  # the faces proposal net's BWN stem (its 64x104 input, cut)
    (3, 8, 8, 16, 32, 1),  # the faces classifier's, batched
    (1, 7, 11, 64, 64, 1),
])
def test_bwn_gives_the_same_bits_on_every_path_and_batch_place(shape: tuple[int, ...]) -> None:
    """Every path this CPU has (x86 without FMA included: the tables add, they do not multiply) and every
    place of an image in a batch give one result, bit for bit: a binary net's signs, and a detector's boxes,
    do not depend on the CPU."""
    n, h, w, c, o, stride = shape
    rng = np.random.default_rng(7)
    x, wp, scale, bias, slope = _bwn_args(rng, (n, h, w, c, o, 3, 3))
    results = []
    try:
        for path in PATHS:
            K._force_path(path)
            results.append(K.bwn_conv2d(x, wp, c, scale, bias, stride, "same", slope))
            results.append(np.concatenate([K.bwn_conv2d(x[i:i + 1], wp, c, scale, bias, stride, "same", slope)
                                           for i in range(n)]))
    finally:
        K._force_path(None)
    for got in results[1:]:
        _same_bits(got, results[0])


def test_bwn_rejects_a_kernel_taller_than_its_ring() -> None:
    rng = np.random.default_rng(0)
    rows = K._bwn.MAX_KERNEL_ROWS + 1
    wp = ref.pack_bits(rng.standard_normal((4, rows, 1, 4)).astype(np.float32))
    x = rng.standard_normal((1, rows, 3, 4)).astype(np.float32)
    one, zero = np.ones(4, np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=f"at most {rows - 1} rows"):
        K.bwn_conv2d(x, wp, 4, one, zero)
    with pytest.raises(ValueError, match=f"at most {rows - 1} rows"):
        K.BwnConvPlan(wp, 4, one, zero)


def _bwn_args(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    n, h, w, c, o, kh, kw = shape
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wp = ref.pack_bits(rng.standard_normal((o, kh, kw, c)).astype(np.float32))
    return (x, wp, rng.uniform(0.1, 2, o).astype(np.float32), rng.standard_normal(o).astype(np.float32),
            rng.uniform(-0.5, 0.5, o).astype(np.float32))


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize(("shape", "stride", "padding"), [
    ((2, 9, 8, 3, 16, 3, 3), 1, "same"),
    ((1, 7, 11, 5, 5, 3, 3), 2, "same"),  # odd sizes, 5 outputs (one masked block)
    ((1, 16, 52, 16, 64, 3, 3), 2, "same"),  # the faces proposal net's BWN stem, cut
    ((24, 8, 8, 16, 32, 3, 3), 1, "same"),  # the faces classifier's: tiles across the batch
    ((13, 5, 7, 6, 40, 3, 3), 1, "same"),  # batched with an overlapping last tile of images
    ((1, 5, 30, 24, 40, 3, 3), 1, "valid"),
    ((1, 5, 30, 8, 65, 3, 3), 1, "same"),  # two words of signs
    ((1, 5, 9, 80, 16, 3, 3), 1, "same"),
])
def test_bwn_fuses_prelu_and_signs_bit_exactly(simd: str, threads: int, shape: tuple[int, ...], stride: int,
                                               padding: str) -> None:
    """slope and output="both" are the separate prelu and pack_bits of the plain result, bit for bit."""
    rng = np.random.default_rng(sum(shape))
    x, wp, scale, bias, slope = _bwn_args(rng, shape)
    c = shape[3]
    for inp in (x, np.zeros_like(x)):  # zeros: sums that are exactly the bias
        plain = K.bwn_conv2d(inp, wp, c, scale, bias, stride, padding)
        want = K.prelu(plain, slope)
        got, bits = K.bwn_conv2d(inp, wp, c, scale, bias, stride, padding, slope, "both")
        _same_bits(got, want)
        _same_bits(bits, K.pack_bits(want))
        _same_bits(K.bwn_conv2d(inp, wp, c, scale, bias, stride, padding, slope), want)
        got, bits = K.bwn_conv2d(inp, wp, c, scale, bias, stride, padding, output="both")
        _same_bits(got, plain)
        _same_bits(bits, K.pack_bits(plain))
    x[-1, 2, 3, 0] = np.nan  # a sign of NaN is an error, pack_bits' own
    with pytest.raises(ValueError, match="contains NaN") as plain_error:
        K.pack_bits(K.prelu(K.bwn_conv2d(x, wp, c, scale, bias, stride, padding), slope))
    with pytest.raises(ValueError, match="contains NaN") as fused_error:
        K.bwn_conv2d(x, wp, c, scale, bias, stride, padding, slope, "both")
    assert str(fused_error.value) == str(plain_error.value)


def test_an_infinite_input_is_no_nan_in_the_channels_past_o(simd: str) -> None:
    """The last block of 8 channels is padded (scale and bias 0): an infinite sum times 0 there is NaN, which
    must neither reach the signs nor raise the NaN error of the real channels (5 of 8 here)."""
    rng = np.random.default_rng(11)
    x, wp, scale, bias, slope = _bwn_args(rng, (1, 6, 9, 8, 5, 3, 3))
    x[0, 2, 4, 3] = np.inf
    plain = K.bwn_conv2d(x, wp, 8, scale, bias, 1, "same", slope)
    assert np.isinf(plain).any() and not np.isnan(plain).any()
    got, bits = K.bwn_conv2d(x, wp, 8, scale, bias, 1, "same", slope, "both")
    _same_bits(got, plain)
    _same_bits(bits, K.pack_bits(plain))


def test_bwn_rejects_a_bad_slope_or_output() -> None:
    rng = np.random.default_rng(0)
    x, wp, scale, bias, slope = _bwn_args(rng, (1, 5, 5, 4, 8, 3, 3))
    with pytest.raises(ValueError, match="slope must have shape"):
        K.bwn_conv2d(x, wp, 4, scale, bias, 1, "same", slope[:3])
    with pytest.raises(ValueError, match="output must be"):
        K.bwn_conv2d(x, wp, 4, scale, bias, 1, "same", slope, "bits")


@pytest.mark.parametrize(("n", "h", "c", "o"), [
    (24, 8, 16, 32), (13, 5, 6, 40), (16, 6, 3, 16), (7, 4, 8, 64)])
def test_small_images_tile_across_the_batch_bit_exactly(simd: str, threads: int, n: int, h: int, c: int,
                                                        o: int) -> None:
    """A batch of small images (the faces classifier's 24 crops: 8x8 rows hold fewer pixels than a tile) runs
    tiles across the images, not 1-pixel code along rows; each image's result is the one it gets alone."""
    rng = np.random.default_rng(n * h)
    x = rng.standard_normal((n, h, h, c)).astype(np.float32)
    w = rng.standard_normal((3, 3, c, o)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    assert K._fconv.batched(n, h, h, c, 3, 3, 1, 1, 1, 1, o, K._float_path)  # a tile of images or more
    got = K.conv2d_small(x, w, bias, 1, 1, relu=True)
    alone = np.concatenate([K.conv2d_small(x[i:i + 1], w, bias, 1, 1, relu=True) for i in range(n)])
    _same_bits(got, alone)


@pytest.mark.parametrize("shape", [
    (1, 16, 52, 16, 64, 3, 3), (1, 5, 9, 80, 16, 3, 3), (2, 5, 4, 20, 8, 1, 1)])
def test_bwn_writes_into_out(simd: str, shape: tuple[int, ...]) -> None:
    """``out`` (a layer's planned buffer) receives the result that a new array would."""
    rng = np.random.default_rng(5)
    x, wp, scale, bias, slope = _bwn_args(rng, shape)
    n, h, w, c, o, kh, _ = shape
    padding = "same" if kh > 1 else "valid"
    want, want_bits = K.bwn_conv2d(x, wp, c, scale, bias, 1, padding, slope, "both")
    out = np.full((n, h, w, o), np.nan, np.float32)
    got, bits = K.bwn_conv2d(x, wp, c, scale, bias, 1, padding, slope, "both", out)
    assert got is out
    _same_bits(got, want)
    _same_bits(bits, want_bits)
    with pytest.raises(ValueError, match="out must have shape"):
        K.bwn_conv2d(x, wp, c, scale, bias, 1, padding, out=np.empty((n, h, w, o + 1), np.float32))
    buf = np.zeros(x.size + out.size, np.float32)  # x, and an out that starts inside it
    xs = buf[:x.size].reshape(x.shape)
    xs[:] = x
    with pytest.raises(ValueError, match="out must not overlap"):
        K.bwn_conv2d(xs, wp, c, scale, bias, 1, padding, out=buf[x.size - 1:x.size - 1 + out.size].reshape(
            out.shape))
