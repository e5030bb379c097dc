"""conv2d_small: the direct float convolution of few taps x channels, against a float64 numpy reference."""

from __future__ import annotations

import ctypes
import mmap
import sys

import cv2
import numpy as np
import pytest

from xnorvision import _fconv
from xnorvision import kernels as K
from xnorvision.runtime._layers import Conv2d

from .conftest import PATHS


def reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, stride: tuple[int, int],
              pad: tuple[int, int], relu: bool) -> np.ndarray:
    """Zero-padded cross-correlation of NHWC x with HWIO w, summed in float64."""
    (sh, sw), (ph, pw) = stride, pad
    kh, kw, _, o = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    ho, wo = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], ho, wo, o))
    for dy in range(kh):
        for dx in range(kw):
            taps = xp[:, dy:dy + sh * (ho - 1) + 1:sh, dx:dx + sw * (wo - 1) + 1:sw]
            y += taps @ w[dy, dx].astype(np.float64)
    if bias is not None:
        y += bias
    return np.maximum(y, 0) if relu else y


def case(rng: np.random.Generator, n: int, h: int, w: int, c: int, k: tuple[int, int], o: int,
         bias: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((*k, c, o)).astype(np.float32)
    return x, wt, rng.standard_normal(o).astype(np.float32) if bias else None


def check(got: np.ndarray, want: np.ndarray, winograd: bool = False) -> None:
    """Equal to float32 rounding; by Winograd's algorithm, to rounding of the largest output (the transforms
    sum terms of about its size into every output of a tile)."""
    assert got.dtype == np.float32 and got.shape == want.shape
    atol = 1e-5 * max(1.0, float(np.abs(want).max())) if winograd else 1e-5
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


def winograd(c: int, k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int], o: int) -> bool:
    """Whether the conv runs Winograd's algorithm on the path that runs now (xnv_fc_wino.h)."""
    return _fconv.winograd(c, k[0], k[1], stride[0], stride[1], pad[0], o, K._float_path)


# (n, h, w, c, kernel, stride, padding, o)
SHAPES = [
    (1, 1, 1, 3, (3, 3), 2, 1, 16),  # a 1x1 image: every tap but the centre is padding
    (1, 1, 1, 1, (1, 1), 1, 0, 5),
    (2, 7, 9, 3, (3, 3), 2, 1, 16),
    (1, 13, 11, 3, (3, 3), 1, 1, 17),
    (3, 8, 8, 1, (3, 3), 2, 1, 16),
    (1, 5, 23, 2, (3, 3), 1, 0, 1),
    (1, 9, 30, 4, (3, 3), 2, 0, 5),
    (2, 6, 21, 4, (1, 1), 1, 0, 17),
    (1, 10, 12, 2, (5, 5), 2, 2, 16),
    (1, 4, 37, 3, (2, 3), (1, 2), (0, 1), 33),
    (1, 3, 2, 1, (3, 3), 3, 1, 16),  # stride 3, every pixel at an edge
    (1, 2, 64, 3, (3, 3), 1, 1, 16),  # long rows: many full tiles and an overlapping last one
    # AVX-512 tiles of several channel blocks: 4 x 6 pixels (ResNet's 7x7 stem), 3 x 8, 2 x 12
    (1, 6, 40, 3, (7, 7), 2, 3, 64),
    (1, 3, 50, 3, (3, 3), 1, 1, 48),
    (1, 3, 45, 2, (3, 3), 1, 1, 30),
    (1, 3, 40, 2, (3, 3), 1, 1, 100),  # 7 blocks: one tile of 4, one of 3 with the last masked
]


@pytest.mark.parametrize("shape", SHAPES, ids=[str(i) for i in range(len(SHAPES))])
def test_matches_reference(simd: str, threads: int, shape: tuple) -> None:
    n, h, w, c, k, stride, padding, o = shape
    rng = np.random.default_rng(hash(shape) % 2**32)
    st = stride if isinstance(stride, tuple) else (stride, stride)
    pd = padding if isinstance(padding, tuple) else (padding, padding)
    for bias in (False, True):
        x, wt, b = case(rng, n, h, w, c, k, o, bias)
        for relu in (False, True):
            check(K.conv2d_small(x, wt, b, stride, padding, relu), reference(x, wt, b, st, pd, relu),
                  winograd(c, k, st, pd, o))


def test_writes_into_out_and_reuses_it(simd: str) -> None:
    rng = np.random.default_rng(0)
    x, wt, b = case(rng, 2, 9, 14, 3, (3, 3), 16, True)
    out = np.full((2, 5, 7, 16), np.nan, np.float32)
    assert K.conv2d_small(x, wt, b, 2, 1, True, out) is out
    check(out, reference(x, wt, b, (2, 2), (1, 1), True))
    x2 = rng.standard_normal(x.shape).astype(np.float32)
    K.conv2d_small(x2, wt, b, 2, 1, False, out)
    check(out, reference(x2, wt, b, (2, 2), (1, 1), False))


@pytest.mark.parametrize("path", [p for p in PATHS if p != "portable"])
def test_simd_paths_agree_with_portable(path: str) -> None:
    rng = np.random.default_rng(1)
    x, wt, b = case(rng, 2, 33, 47, 3, (3, 3), 40, True)
    x[0, 5, 7, 1] = np.nan  # NaN reaches its outputs on every path, ReLU or not
    try:
        K._force_path("portable")
        want = K.conv2d_small(x, wt, b, 2, 1, True)
        K._force_path(path)
        got = K.conv2d_small(x, wt, b, 2, 1, True)
    finally:
        K._force_path(None)
    assert np.isnan(want).sum() > 0
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("c", "k", "stride", "o"), [
    (3, (3, 3), 2, 16), (1, (3, 3), 2, 16), (3, (3, 3), 2, 5),  # the AVX-512 stem tiles (RGB, grey, masked)
    (3, (7, 7), 2, 64), (3, (3, 3), 1, 40), (2, (3, 3), 1, 16),
])
def test_a_pixel_sums_alike_in_a_tile_and_alone(simd: str, c: int, k: tuple[int, int], stride: int,
                                                o: int) -> None:
    """Rows too short for a tile go pixel by pixel; the same pixels of a long row come from tiles (and at
    other offsets in them): bit for bit the same sums, which the fused pool and the edges rely on."""
    rng = np.random.default_rng(c * 100 + o)
    pad = k[1] // 2
    x, wt, b = case(rng, 1, 5, 24 * stride + k[1], c, k, o, True)
    crop = 3 * stride + k[1] - pad  # input columns whose outputs 0..3 see no padding on the right
    full = K.conv2d_small(x, wt, b, stride, pad, True)
    short = K.conv2d_small(np.ascontiguousarray(x[:, :, :crop]), wt, b, stride, pad, True)
    assert short.shape[2] < 6 <= full.shape[2]  # pixel by pixel vs in tiles
    assert_bits_equal(full[:, :, :4], short[:, :, :4])


@pytest.mark.parametrize(("c", "k", "stride", "o"), [
    (1, (3, 3), 2, 16), (3, (3, 3), 2, 16), (2, (3, 3), 1, 16), (3, (3, 3), 1, 40), (3, (7, 7), 2, 64),
    (16, (3, 3), 2, 64), (4, (3, 3), 1, 48), (5, (3, 3), 2, 32),  # AVX2's one pixel x every block at once
    (16, (3, 3), 1, 5), (5, (3, 3), 2, 3), (3, (3, 3), 1, 8),  # AVX2's few outputs: 8 pixels in the lanes
])
def test_rows_of_every_length_sum_alike(simd: str, c: int, k: tuple[int, int], stride: int, o: int) -> None:
    """Rows of every length, so that interiors take whole tiles, half tiles (a 32x32 crop's grey stem has
    15 interior pixels a row, one short of a 16-pixel tile; the last 3 of a row on AVX2) or single pixels
    (on AVX2 every block of up to 64 channels at once): each output column that sees no right padding has
    the same bits as in the longest row. By Winograd's algorithm, each whole tile of 4 columns whose input
    columns (8t - pad to 8t + 12 - pad) all lie left of the cut."""
    rng = np.random.default_rng(c * 1000 + o)
    pad = k[1] // 2
    by_tiles = winograd(c, k, (stride, stride), (pad, pad), o)
    x, wt, b = case(rng, 1, 4, 20 * stride + k[1], c, k, o, True)
    full = K.conv2d_small(x, wt, b, stride, pad, True)
    for width in range(k[1], x.shape[2]):
        part = K.conv2d_small(np.ascontiguousarray(x[:, :, :width]), wt, b, stride, pad, True)
        inside = (width + pad - k[1]) // stride + 1  # columns whose taps all lie left of the cut
        if by_tiles:
            inside = min(inside, 4 * max(0, (width + pad - 13) // 8 + 1))
        assert_bits_equal(full[:, :, :inside], part[:, :, :inside])


def test_a_detector_sized_first_layer(threads: int) -> None:
    rng = np.random.default_rng(2)
    x, wt, b = case(rng, 1, 320, 416, 3, (3, 3), 16, True)  # the faces proposal net's stem
    check(K.conv2d_small(x, wt, b, 2, 1, True), reference(x, wt, b, (2, 2), (1, 1), True))


@pytest.mark.parametrize(("shape", "stride", "pad", "groups"), [
    ((1, 20, 26, 3), (2, 2), (1, 1), 1),  # direct kernel
    ((2, 9, 9, 1), (1, 1), (1, 1), 1),  # direct kernel
    ((1, 10, 12, 8), (1, 1), (1, 1), 1),  # 72 taps x channels: im2col + BLAS
    ((1, 10, 12, 4), (1, 1), (1, 1), 2),  # grouped: im2col + BLAS
])
def test_conv2d_layer_matches_reference(shape: tuple, stride: tuple, pad: tuple, groups: int) -> None:
    rng = np.random.default_rng(3)
    c = shape[3]
    weight = rng.standard_normal((16, 3, 3, c // groups)).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32)
    layer = Conv2d(weight, bias, stride, pad, groups, relu=True)
    assert (layer.direct is not None) == (groups == 1 and 9 * c <= Conv2d.DIRECT_MAX_TAPS)
    x = rng.standard_normal(shape).astype(np.float32)
    if groups == 1:
        want = reference(x, weight.transpose(1, 2, 3, 0), bias, stride, pad, True)
    else:
        halves = [reference(x[..., g * 2:(g + 1) * 2], weight[g * 8:(g + 1) * 8].transpose(1, 2, 3, 0),
                            bias[g * 8:(g + 1) * 8], stride, pad, True) for g in range(2)]
        want = np.concatenate(halves, axis=-1)
    for _ in range(2):  # the second call reuses the planned output
        np.testing.assert_allclose(layer([x]), want, rtol=1e-4, atol=1e-4)


X = np.zeros((1, 6, 6, 3), np.float32)
W = np.zeros((3, 3, 3, 16), np.float32)
B = np.zeros(16, np.float32)
OUT = np.zeros((1, 3, 3, 16), np.float32)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: K.conv2d_small(X.astype(np.float64), W), "x must have dtype float32"),
    (lambda: K.conv2d_small(X, W.astype(np.float16)), "w must have dtype float32"),
    (lambda: K.conv2d_small(X[0], W), "x must have 4 dimensions"),
    (lambda: K.conv2d_small(X, W[0]), "w must have 4 dimensions"),
    (lambda: K.conv2d_small(X[:, :, ::2], W), "C-contiguous"),
    (lambda: K.conv2d_small(X[:, :0], W), "empty"),
    (lambda: K.conv2d_small(X.tolist(), W), "numpy array"),
    (lambda: K.conv2d_small(X, np.zeros((3, 3, 2, 16), np.float32)), r"C = 3"),
    (lambda: K.conv2d_small(X, W, B[:5]), r"shape \(16,\)"),
    (lambda: K.conv2d_small(X, W, B.astype(np.float64)), "bias must have dtype float32"),
    (lambda: K.conv2d_small(X, W, stride=0), "stride must be >= 1"),
    (lambda: K.conv2d_small(X, W, stride=(1, 2, 3)), "pair"),
    (lambda: K.conv2d_small(X, W, stride=1.5), "stride must be an int"),
    (lambda: K.conv2d_small(X, W, padding=-1), "padding must be >= 0"),
    (lambda: K.conv2d_small(X[:, :2], W), "larger than"),
    (lambda: K.conv2d_small(X, W, relu="yes"), "relu must be a bool"),
    (lambda: K.conv2d_small(X, W, B, 2, 1, out=np.zeros((1, 4, 4, 16), np.float32)), "out must have shape"),
    (lambda: K.conv2d_small(X, W, B, 2, 1, out=OUT.astype(np.float64)), "out must have dtype float32"),
    (lambda: K.conv2d_small(X, W, B, 2, 1, out=np.zeros((1, 3, 3, 32), np.float32)[..., ::2]),
     "C-contiguous"),
])
def test_bad_arguments(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_out_must_be_writeable_and_separate() -> None:
    frozen = OUT.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        K.conv2d_small(X, W, B, 2, 1, out=frozen)
    x = np.zeros((1, 3, 3, 16), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        K.conv2d_small(x, np.zeros((1, 1, 16, 16), np.float32), out=x)


# ------------------------------------------------------------------------------- uint8 input + table
def random_lut(rng: np.random.Generator, c: int) -> np.ndarray:
    """A (256, c) float32 table of signed values (ReLU bites), -0.0 and a large value among them."""
    lut = (rng.standard_normal((256, c)) * 2).astype(np.float32)
    lut[0, 0] = -0.0
    lut[255, c - 1] = 3e4
    return lut


def affine_lut(c: int, mean: float = 0.5, std: float = 0.25) -> np.ndarray:
    """The runtime's table (``runtime._executor._normalising_lut``): ``v * scale + shift`` in float32, one
    mean and std a channel (the channels' own, spread around the given ones)."""
    spread = np.linspace(-0.05, 0.05, c, dtype=np.float32)
    mean_c, std_c = np.float32(mean) + spread, np.float32(std) + spread / 4
    scale, shift = (1.0 / (255.0 * std_c)).astype(np.float32), (-mean_c / std_c).astype(np.float32)
    return (np.arange(256, dtype=np.float32)[:, None] * scale + shift).astype(np.float32)


def vector_u8(x8: np.ndarray, wt: np.ndarray, lut: np.ndarray, channels, stride=1, padding=0) -> bool:
    """Whether the direct kernel converts this uint8 input by vectors (``xnv_fc_u8v_t``) on this path."""
    plan = K.DirectConvPlan(wt, None, stride, padding, lut=lut, channels=channels)
    out = np.empty(plan(x8).shape, np.float32)
    return plan.bind(x8, out).call.vector_u8


def normalised(x8: np.ndarray, lut: np.ndarray, channels) -> np.ndarray:
    """The float input that the uint8 path must match: ``lut[x[..., channels], range(C)]``."""
    lut = lut.reshape(256, -1)
    chan = np.arange(lut.shape[1]) if channels is None else np.asarray(channels)
    return np.ascontiguousarray(lut[x8[..., chan], np.arange(lut.shape[1])], dtype=np.float32)


def assert_bits_equal(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


# (n, h, w, cx, channels, kernel, stride, padding, o)
U8_SHAPES = [
    (1, 1, 1, 3, (2, 1, 0), (3, 3), 2, 1, 16),  # a 1x1 image: every tap but the centre is padding
    (1, 1, 1, 1, None, (3, 3), 1, 1, 5),
    (1, 1, 1, 3, None, (1, 1), 1, 0, 17),
    (2, 7, 9, 3, (2, 1, 0), (3, 3), 2, 1, 16),
    (1, 13, 11, 3, (2, 1, 0), (3, 3), 1, 1, 17),
    (1, 13, 11, 3, None, (3, 3), 1, 0, 5),
    (3, 8, 8, 1, None, (3, 3), 2, 1, 16),
    (24, 9, 7, 1, None, (3, 3), 2, 1, 17),  # many small images: rows of every image in one buffer
    (2, 11, 15, 1, (0, 0, 0), (3, 3), 2, 0, 16),  # gray image, 3-channel model
    (1, 9, 19, 4, (2, 1, 0), (3, 3), 2, 1, 16),  # BGRA -> RGB
    (1, 6, 10, 4, (3, 1), (3, 3), 1, 1, 5),  # a general channel map
    (1, 3, 4, 3, (1, 2, 0), (1, 1), 1, 1, 16),  # padding >= kernel: rows and columns of bias alone
    (1, 3, 2, 1, None, (3, 3), 3, 1, 16),  # stride 3, every pixel at an edge
    (1, 2, 64, 3, (2, 1, 0), (3, 3), 1, 1, 16),  # long rows: many full tiles and an overlapping last one
    (1, 5, 23, 2, (1, 0), (3, 3), 1, 0, 1),
    (1, 10, 12, 2, None, (5, 5), 2, 2, 16),
    (1, 4, 37, 3, (2, 1, 0), (2, 3), (1, 2), (0, 1), 33),
    (1, 41, 333, 3, (2, 1, 0), (3, 3), 2, 1, 16),  # wide rows: the buffer refills every few output rows
    (2, 150, 5, 1, None, (3, 3), 1, 1, 16),  # narrow rows: 64 rows a refill, over two images
]


@pytest.mark.parametrize("table", ["random", "affine"])
@pytest.mark.parametrize("shape", U8_SHAPES, ids=[str(i) for i in range(len(U8_SHAPES))])
def test_uint8_input_is_bit_exact_with_normalised_float_input(simd: str, threads: int, shape: tuple,
                                                              table: str) -> None:
    """Through look-ups (any table) or, for the runtime's affine tables on x86's vector paths, converted 8
    pixels at a time: the same floats either way."""
    n, h, w, cx, channels, k, stride, padding, o = shape
    c = cx if channels is None else len(channels)
    rng = np.random.default_rng(U8_SHAPES.index(shape))  # (hash(None) varies between runs before 3.12)
    x8 = rng.integers(0, 256, (n, h, w, cx), np.uint8)
    x8.flat[:2] = (0, 255)
    lut = random_lut(rng, c) if table == "random" else affine_lut(c)
    xf = normalised(x8, lut, channels)
    for bias in (False, True):
        _, wt, b = case(rng, 1, 1, 1, c, k, o, bias)
        for relu in (False, True):
            want = K.conv2d_small(xf, wt, b, stride, padding, relu)
            got = K.conv2d_small(x8, wt, b, stride, padding, relu, lut=lut, channels=channels)
            assert_bits_equal(got, want)
    vector = table == "affine" and simd in ("avx2", "avx512") and sys.maxsize > 2**32
    assert vector_u8(x8, wt, lut, channels, stride, padding) == vector


@pytest.mark.parametrize(("mean", "std"), [(0.5, 0.25), (0.485, 0.229), (0.0, 1.0), (0.5, 0.5), (0.1, 3.0),
                                           (0.5, 1e-3), (-2.0, 0.01)])
def test_runtime_tables_convert_by_vectors(simd: str, mean: float, std: float) -> None:
    """Every table the runtime builds from a model's mean and std is found affine (its scale is within a few
    floats of the end points' slope) and converts bit for bit; one entry off and it goes back to look-ups."""
    rng = np.random.default_rng(11)
    x8 = rng.integers(0, 256, (1, 9, 37, 3), np.uint8)
    x8[0, 0, :3] = ((0, 0, 0), (255, 255, 255), (1, 254, 128))
    _, wt, b = case(rng, 1, 1, 1, 3, (3, 3), 16, True)
    vector = simd in ("avx2", "avx512") and sys.maxsize > 2**32
    lut = affine_lut(3, mean, std)
    assert vector_u8(x8, wt, lut, (2, 1, 0), 2, 1) == vector
    assert_bits_equal(K.conv2d_small(x8, wt, b, 2, 1, False, lut=lut, channels=(2, 1, 0)),
                      K.conv2d_small(normalised(x8, lut, (2, 1, 0)), wt, b, 2, 1, False))
    lut[200, 1] = np.nextafter(lut[200, 1], np.float32(np.inf))
    assert not vector_u8(x8, wt, lut, (2, 1, 0), 2, 1)
    assert_bits_equal(K.conv2d_small(x8, wt, b, 2, 1, False, lut=lut, channels=(2, 1, 0)),
                      K.conv2d_small(normalised(x8, lut, (2, 1, 0)), wt, b, 2, 1, False))


def test_uint8_bgr_frame_matches_cvtcolor_and_lut(threads: int) -> None:
    """The executor's preprocessing (BGR -> RGB, then a (1, 256, 3) cv2.LUT) fused into the faces stem."""
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, (1, 320, 416, 3), np.uint8)
    mean, std = np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225])
    scale, shift = (1.0 / (255.0 * std)).astype(np.float32), (-mean / std).astype(np.float32)
    lut = (np.arange(256, dtype=np.float32)[:, None] * scale + shift).astype(np.float32).reshape(1, 256, 3)
    x = cv2.LUT(cv2.cvtColor(frame[0], cv2.COLOR_BGR2RGB), lut)[None]
    _, wt, b = case(rng, 1, 1, 1, 3, (3, 3), 16, True)
    want = K.conv2d_small(x, wt, b, 2, 1, True)
    out = np.full_like(want, np.nan)
    assert K.conv2d_small(frame, wt, b, 2, 1, True, out, lut=lut, channels=(2, 1, 0)) is out
    assert_bits_equal(out, want)


def test_uint8_input_takes_channel_arrays_and_any_table_layout() -> None:
    rng = np.random.default_rng(5)
    x8 = rng.integers(0, 256, (1, 9, 10, 3), np.uint8)
    table = random_lut(rng, 3)
    _, wt, b = case(rng, 1, 1, 1, 3, (3, 3), 16, True)
    want = K.conv2d_small(normalised(x8, table, (2, 0, 1)), wt, b, 2, 1, False)
    for lut in (table, table.reshape(1, 256, 3), np.asfortranarray(table)):
        for channels in ((2, 0, 1), [2, 0, 1], np.array([2, 0, 1]), np.array([2, 0, 1], np.uint8),
                         (np.int64(2), 0, 1)):
            assert_bits_equal(K.conv2d_small(x8, wt, b, 2, 1, False, lut=lut, channels=channels), want)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through ctypes")
@pytest.mark.parametrize("pool", [None, 2])
@pytest.mark.parametrize(("shape", "stride"), [((2, 17, 13, 3), 2), ((3, 20, 6, 1), 1)])
def test_uint8_input_reads_nothing_past_x(simd: str, threads: int, shape: tuple, stride: int, pool) -> None:
    """x ends where an unreadable page starts: a read past it (say one row too many converted) crashes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    page, size = mmap.PAGESIZE, int(np.prod(shape))
    pages = (size + page - 1) // page
    buf = mmap.mmap(-1, (pages + 1) * page)
    guard = ctypes.addressof(ctypes.c_char.from_buffer(buf)) + pages * page
    assert libc.mprotect(guard, page, 0) == 0  # PROT_NONE
    try:
        x8 = np.frombuffer(buf, np.uint8, size, pages * page - size).reshape(shape)
        x8[:] = np.random.default_rng(6).integers(0, 256, shape, np.uint8)
        _, wt, b = case(np.random.default_rng(8), 1, 1, 1, shape[3], (3, 3), 16, True)
        # through look-ups, then (an affine table) by vectors
        for lut in (random_lut(np.random.default_rng(7), shape[3]), affine_lut(shape[3])):
            got = K.conv2d_small(x8, wt, b, stride, 1, True, lut=lut, pool=pool)
            want = K.conv2d_small(normalised(x8, lut, None), wt, b, stride, 1, True, pool=pool)
            assert_bits_equal(got, want)
        del x8
    finally:
        assert libc.mprotect(guard, page, 3) == 0  # PROT_READ | PROT_WRITE, so that the map can go
    buf.close()


X8 = np.zeros((1, 6, 6, 3), np.uint8)
LUT = np.zeros((256, 3), np.float32)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: K.conv2d_small(X8, W), r"uint8 x needs lut"),
    (lambda: K.conv2d_small(X8, W, channels=(0, 1, 2)), r"uint8 x needs lut"),
    (lambda: K.conv2d_small(X, W, lut=LUT), r"lut and channels are for a uint8 x"),
    (lambda: K.conv2d_small(X, W, channels=(2, 1, 0)), r"lut and channels are for a uint8 x"),
    (lambda: K.conv2d_small(X8.astype(np.int8), W, lut=LUT), r"x must have dtype float32 or uint8, got int8"),
    (lambda: K.conv2d_small(X8.astype(np.uint16), W, lut=LUT), r"x must have dtype float32 or uint8"),
    (lambda: K.conv2d_small(X8[0], W, lut=LUT), r"x must have 4 dimensions"),
    (lambda: K.conv2d_small(X8[:, :, ::2], W, lut=LUT), "C-contiguous"),
    (lambda: K.conv2d_small(X8, W, lut=LUT.tolist()), r"lut must be a numpy array"),
    (lambda: K.conv2d_small(X8, W, lut=LUT.astype(np.float64)), r"lut must have dtype float32, got float64"),
    (lambda: K.conv2d_small(X8, W, lut=LUT[:255]), r"lut must have shape \(256, 3\) or \(1, 256, 3\)"),
    (lambda: K.conv2d_small(X8, W, lut=LUT[:, :1]), r"lut must have shape \(256, 3\)"),
    (lambda: K.conv2d_small(X8, W, lut=LUT.T.copy()), r"lut must have shape \(256, 3\)"),
    (lambda: K.conv2d_small(X8, W, lut=np.zeros((2, 256, 3), np.float32)), r"lut must have shape"),
    (lambda: K.conv2d_small(X8, W, lut=LUT.ravel()), r"lut must have shape"),
    (lambda: K.conv2d_small(np.zeros((1, 6, 6, 4), np.uint8), W, lut=LUT), r"x has 4 channels .* channels"),
    (lambda: K.conv2d_small(X8[..., :1].copy(), W, lut=LUT), r"x has 1 channels .* pass channels"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=(2, 1)), r"channels must have C = 3 entries"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=(2, 1, 0, 0)), r"channels must have C = 3 entries"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=(3, 1, 0)), r"channels must be in \[0, 3\)"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=(-1, 1, 0)), r"channels must be in \[0, 3\)"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=(2.0, 1, 0)), r"channels must be a sequence of ints"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=(True, 1, 0)), r"channels must be a sequence of ints"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels="210"), r"channels must be a sequence of ints"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=2), r"channels must be a sequence of ints"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=np.array([2.0, 1, 0])), r"sequence of ints"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=np.array([[2, 1, 0]])), r"sequence of ints"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, channels=np.array([True, False, True])), r"sequence of ints"),
    (lambda: K.conv2d_small(X8, W, B, 2, 1, lut=LUT, out=np.zeros((1, 4, 4, 16), np.float32)),
     "out must have shape"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, stride=0), "stride must be >= 1"),
    (lambda: K.conv2d_small(X8[:, :2], W, lut=LUT), "larger than"),
])
def test_uint8_bad_arguments(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------ fused max pool
def maxpool(conv: np.ndarray, pool: int) -> np.ndarray:
    """The runtime's max pool that ``pool`` fuses: 2x2 stride 2, or 3x3 stride 2 padding 1."""
    return K.maxpool2d(conv, 2, 2) if pool == 2 else K.maxpool2d(conv, 3, 2, 1)


def pooled_reference(x: np.ndarray, wt: np.ndarray, b: np.ndarray | None, stride, padding, relu: bool,
                     pool: int = 2, **u8) -> np.ndarray:
    """What ``pool`` must equal bit for bit: the runtime's max pool of the unfused conv."""
    return maxpool(K.conv2d_small(x, wt, b, stride, padding, relu, **u8), pool)


def with_specials(rng: np.random.Generator, wt: np.ndarray, b: np.ndarray | None) -> tuple:
    """Channel 0: zero weights and a -0.0 bias, so the conv gives -0.0 or +0.0 by the signs of its taps
    (pool ties of signed zeros); the inputs get NaN and inf (NaN outputs, some from inf - inf)."""
    wt, b = wt.copy(), (np.zeros(wt.shape[3], np.float32) if b is None else b.copy())
    wt[..., 0] = 0.0
    b[0] = -0.0
    return wt, b


# (n, h, w, c, kernel, stride, padding, o): conv outputs of odd and even sizes, 2x2 and up
POOL_SHAPES = [
    (1, 1, 1, 3, (1, 1), 1, 1, 16),  # a 1x1 image padded to a 3x3 conv output: one pooled pixel
    (2, 1, 1, 1, (3, 3), 1, 2, 5),  # padding >= kernel: rows and columns of bias alone
    (1, 3, 5, 3, (3, 3), 1, 1, 17),  # 3x5 -> 1x2: the odd last row and column dropped
    (2, 3, 5, 1, (3, 3), 2, 1, 16),  # 2x3 -> 1x1
    (1, 7, 6, 3, (3, 3), 2, 1, 16),  # 4x3 -> 2x1
    (3, 7, 6, 1, (3, 3), 1, 1, 5),  # 7x6 -> 3x3, three images
    (1, 7, 6, 3, (3, 3), 1, 0, 17),  # 5x4 -> 2x2
    (2, 7, 6, 3, (3, 3), 2, 1, 5),
    (1, 22, 141, 3, (3, 3), 2, 1, 16),  # 11x71 -> 5x35: column chunks, the odd last column dropped
    (1, 9, 150, 1, (3, 3), 1, 1, 17),  # 9x150: chunks of 32 columns and a short last one
    (1, 10, 12, 2, (5, 5), 2, 2, 16),
    (1, 4, 37, 3, (2, 3), (1, 2), (0, 1), 33),
    (5, 32, 32, 1, (3, 3), 2, 1, 16),  # the faces classifier's stem on a batch of crops
    (1, 6, 90, 3, (3, 3), 1, 1, 64),  # tiles of 4 channel blocks in chunks of 32 columns
    (1, 5, 80, 2, (3, 3), 1, 1, 40),  # 3 blocks, the last masked
    (1, 2, 2, 3, (1, 1), 1, 0, 80),  # 5 blocks: a pool of 4 vectors, then 1
    (2, 23, 19, 3, (7, 7), 2, 3, 64),  # ResNet's stem on a small image: 12x10 -> 6x5 (pool 3)
]


@pytest.mark.parametrize("pool", [2, 3])
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=[str(i) for i in range(len(POOL_SHAPES))])
def test_fused_maxpool_is_bit_exact(simd: str, threads: int, shape: tuple, pool: int) -> None:
    n, h, w, c, k, stride, padding, o = shape
    rng = np.random.default_rng(POOL_SHAPES.index(shape))
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    x.flat[rng.integers(0, x.size, 3)] = (np.nan, np.inf, -np.inf)
    for bias in (False, True):
        _, wt, b = case(rng, 1, 1, 1, c, k, o, bias)
        for ws, bs in ((wt, b), with_specials(rng, wt, b)):
            for relu in (False, True):
                want = pooled_reference(x, ws, bs, stride, padding, relu, pool)
                assert_bits_equal(K.conv2d_small(x, ws, bs, stride, padding, relu, pool=pool), want)


@pytest.mark.parametrize(("c", "k", "stride", "pad"), [
    (3, (3, 3), 2, 1), (1, (3, 3), 2, 1), (3, (3, 3), 1, 1), (3, (5, 3), 2, 1), (1, (3, 3), 1, 0)])
def test_a_pooled_stem_sums_and_folds_as_conv_then_pool(simd: str, threads: int, c: int, k: tuple[int, int],
                                                        stride: int, pad: int) -> None:
    """A 3x3 stem of 16 outputs with the 2x2 pool (on AVX2 each pooled pixel of the interior straight from its
    four conv pixels, no conv rows in between) is bit for bit the conv with its ReLU or PReLU, then
    ``maxpool2d``: NaN, infinities and zeros of both signs included; a 5x3 kernel takes the rows' way."""
    rng = np.random.default_rng(c * 10 + k[0] + stride)
    x = rng.standard_normal((2, 23, 37, c)).astype(np.float32)
    x.flat[rng.integers(0, x.size, 4)] = (np.nan, np.inf, -np.inf, -0.0)
    _, wt, b = case(rng, 1, 1, 1, c, k, 16, True)
    slope = rng.uniform(-0.5, 0.5, 16).astype(np.float32)
    for relu in (False, True):
        with np.errstate(invalid="ignore"):
            conv = K.conv2d_small(x, wt, b, stride, pad, relu)
            want = K.maxpool2d(conv, 2, 2)
            assert_bits_equal(K.conv2d_small(x, wt, b, stride, pad, relu, pool=2), want)
            want = K.maxpool2d(K.prelu(conv, slope), 2, 2)
            out = np.empty_like(want)
            K._direct_conv(x, wt, b, (stride, stride), (pad, pad), relu, out, pool=2, slope=slope)
        assert_bits_equal(out, want)


def test_fused_maxpool_keeps_the_first_nan_and_zero_of_each_block() -> None:
    """The pool's NaN and signed-zero rules through the fused path: a 1x1 conv of one channel with weight
    1 and bias -0.0 copies its input bit for bit (quiet NaN payloads, -0.0 and +0.0), so the result must be
    the runtime's max pool of x itself."""
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0], np.float32)
    rng = np.random.default_rng(9)
    x = rng.choice(specials, (2, 16, 18, 1)).astype(np.float32)
    bits = x.view(np.uint32)
    bits[np.isnan(x)] |= rng.integers(0, 1 << 22, np.isnan(x).sum()).astype(np.uint32)  # payloads
    wt, b = np.ones((1, 1, 1, 1), np.float32), np.full(1, -0.0, np.float32)
    for path in PATHS:
        for pool in (2, 3):
            try:
                K._force_path(path)
                assert_bits_equal(K.conv2d_small(x, wt, b), x)
                got = K.conv2d_small(x, wt, b, pool=pool)
            finally:
                K._force_path(None)
            assert_bits_equal(got, maxpool(x, pool))


@pytest.mark.parametrize("shape", [s for s in U8_SHAPES if s[1] >= 2 and s[2] >= 2],
                         ids=[str(i) for i, s in enumerate(U8_SHAPES) if s[1] >= 2 and s[2] >= 2])
@pytest.mark.parametrize("pool", [2, 3])
def test_fused_maxpool_on_uint8_input_is_bit_exact(simd: str, threads: int, shape: tuple, pool: int) -> None:
    n, h, w, cx, channels, k, stride, padding, o = shape
    c = cx if channels is None else len(channels)
    rng = np.random.default_rng(100 + U8_SHAPES.index(shape))
    x8 = rng.integers(0, 256, (n, h, w, cx), np.uint8)
    lut = random_lut(rng, c)
    lut[7, :] = np.nan
    u8 = {"lut": lut, "channels": channels}
    for bias in (False, True):
        _, wt, b = case(rng, 1, 1, 1, c, k, o, bias)
        for ws, bs in ((wt, b), with_specials(rng, wt, b)):
            for relu in (False, True):
                conv = K.conv2d_small(x8, ws, bs, stride, padding, relu, **u8)
                if pool == 2 and (conv.shape[1] < 2 or conv.shape[2] < 2):
                    with pytest.raises(ValueError, match="larger than the convolution's output"):
                        K.conv2d_small(x8, ws, bs, stride, padding, relu, **u8, pool=2)
                    continue
                want = maxpool(conv, pool)
                assert_bits_equal(K.conv2d_small(x8, ws, bs, stride, padding, relu, **u8, pool=pool), want)
                # ... and the float path on the normalised input
                xf = normalised(x8, lut, channels)
                assert_bits_equal(K.conv2d_small(xf, ws, bs, stride, padding, relu, pool=pool), want)


def test_fused_maxpool_on_a_detector_stem_frame(threads: int) -> None:
    """The faces proposal stem: a BGR frame through the table, conv 3x3 stride 2, ReLU, 2x2 pool."""
    rng = np.random.default_rng(10)
    frame = rng.integers(0, 256, (1, 320, 416, 3), np.uint8)
    lut = random_lut(rng, 3)
    _, wt, b = case(rng, 1, 1, 1, 3, (3, 3), 16, True)
    want = pooled_reference(frame, wt, b, 2, 1, True, lut=lut, channels=(2, 1, 0))
    out = np.full((1, 80, 104, 16), np.nan, np.float32)
    assert K.conv2d_small(frame, wt, b, 2, 1, True, out, lut=lut, channels=(2, 1, 0), pool=2) is out
    assert_bits_equal(out, want)


def test_fused_maxpool_and_signs_on_a_resnet_stem_frame(threads: int) -> None:
    """ResNet-18's stem: an RGB frame through the table, conv 7x7 stride 2 to 64 channels, the 3x3 stride-2
    max pool with padding 1 and the packed signs the first binary conv reads."""
    rng = np.random.default_rng(13)
    frame = rng.integers(0, 256, (1, 224, 224, 3), np.uint8)
    lut = random_lut(rng, 3)
    _, wt, b = case(rng, 1, 1, 1, 3, (7, 7), 64, True)
    want = pooled_reference(frame, wt, b, 2, 3, False, 3, lut=lut)
    out = np.full((1, 56, 56, 64), np.nan, np.float32)
    got, bits = K.conv2d_small(frame, wt, b, 2, 3, False, out, lut=lut, pool=3, output="both")
    assert got is out
    assert_bits_equal(out, want)
    np.testing.assert_array_equal(bits, K.pack_bits(want))


@pytest.mark.parametrize("pool", [None, 2, 3])
@pytest.mark.parametrize("shape", POOL_SHAPES[2:9], ids=[str(i) for i in range(2, 9)])
def test_output_both_packs_the_signs_of_the_result(simd: str, threads: int, shape: tuple,
                                                   pool: int | None) -> None:
    """``output="both"``: the result as ``"float"`` gives it, and pack_bits of it, pooled or not; a NaN in
    the result is pack_bits' error."""
    n, h, w, c, k, stride, padding, o = shape
    rng = np.random.default_rng(20 + POOL_SHAPES.index(shape))
    x, wt, b = case(rng, n, h, w, c, k, o, True)
    for relu in (False, True):
        want = K.conv2d_small(x, wt, b, stride, padding, relu, pool=pool)
        got, bits = K.conv2d_small(x, wt, b, stride, padding, relu, pool=pool, output="both")
        assert_bits_equal(got, want)
        np.testing.assert_array_equal(bits, K.pack_bits(want))
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        K.conv2d_small(x, wt, b, stride, padding, False, pool=pool, output="both")


@pytest.mark.parametrize(("call", "match"), [
    (lambda: K.conv2d_small(X, W, pool=4), r"pool must be None, 2 .* or 3"),
    (lambda: K.conv2d_small(X, W, pool=1), r"pool must be None, 2 .* or 3"),
    (lambda: K.conv2d_small(X, W, pool=0), r"pool must be None, 2 .* or 3"),
    (lambda: K.conv2d_small(X, W, pool=True), r"pool must be None, 2 .* or 3"),
    (lambda: K.conv2d_small(X, W, pool=2.0), r"pool must be None, 2 .* or 3"),
    (lambda: K.conv2d_small(X, W, pool="2"), r"pool must be None, 2 .* or 3"),
    (lambda: K.conv2d_small(X, W, pool=(2, 2)), r"pool must be None, 2 .* or 3"),
    (lambda: K.conv2d_small(X, W, output="bits"), r"output must be 'float' or 'both'"),
    (lambda: K.conv2d_small(X[:, :3], W, pool=2), r"pool 2x2 is larger than the convolution's output 1x4"),
    (lambda: K.conv2d_small(X, W, stride=(1, 4), pool=2), r"larger than the convolution's output 4x1"),
    (lambda: K.conv2d_small(X, W, B, 2, 1, out=OUT, pool=2), r"out must have shape \(1, 1, 1, 16\)"),
    (lambda: K.conv2d_small(X8, W, lut=LUT, pool=2, out=np.zeros((1, 4, 4, 16), np.float32)),
     r"out must have shape \(1, 2, 2, 16\)"),
])
def test_fused_maxpool_bad_arguments(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_fused_maxpool_takes_numpy_ints() -> None:
    rng = np.random.default_rng(11)
    x, wt, b = case(rng, 1, 8, 8, 3, (3, 3), 16, True)
    assert_bits_equal(K.conv2d_small(x, wt, b, 1, 1, True, pool=np.int64(2)),
                      pooled_reference(x, wt, b, 1, 1, True))


def test_conv2d_layer_with_a_fused_pool() -> None:
    rng = np.random.default_rng(12)
    weight = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(16).astype(np.float32)
    layer = Conv2d(weight, bias, (2, 2), (1, 1), 1, relu=True, pool=2)
    for shape in [(1, 21, 27, 3), (2, 8, 8, 3), (1, 21, 27, 3)]:  # planned per shape, reused
        x = rng.standard_normal(shape).astype(np.float32)
        want = pooled_reference(x, weight.transpose(1, 2, 3, 0).copy(), bias, 2, 1, True)
        assert_bits_equal(layer([x]), want)
    with pytest.raises(ValueError, match="fused max pool"):
        Conv2d(rng.standard_normal((16, 3, 3, 8)).astype(np.float32), None, (1, 1), (1, 1), 1, pool=2)
    with pytest.raises(ValueError, match="fused max pool"):
        Conv2d(weight, None, (1, 1), (1, 1), 1, pool=4)
    with pytest.raises(ValueError, match="fused signs"):
        Conv2d(rng.standard_normal((16, 3, 3, 8)).astype(np.float32), None, (1, 1), (1, 1), 1, bits=True)


@pytest.mark.parametrize(("n", "h", "w", "c", "o", "stride"), [
    (1, 9, 30, 3, 16, 2), (2, 7, 11, 5, 5, 1), (1, 6, 40, 8, 40, 1), (1, 5, 19, 16, 64, 2),
    (1, 4, 9, 4, 70, 1), (13, 5, 5, 6, 40, 1),  # tiles across the batch
    (1, 6, 21, 16, 5, 1), (1, 5, 19, 3, 8, 2)])  # few outputs (AVX2: 8 pixels in the lanes)
def test_the_epilogue_applies_prelu_and_packs_signs_bit_exactly(
        simd: str, threads: int, n: int, h: int, w: int, c: int, o: int, stride: int) -> None:
    """The direct kernel's PReLU and sign bits (a BWN conv's fused step, on whichever path runs it) are
    kernels.prelu and pack_bits of its plain result, bit for bit, with ReLU before them too."""
    rng = np.random.default_rng(n * o + w)
    x, wt, b = case(rng, n, h, w, c, (3, 3), o, True)
    slope = rng.uniform(-0.5, 0.5, o).astype(np.float32)
    for relu in (False, True):
        want = K.prelu(K.conv2d_small(x, wt, b, stride, 1, relu), slope)
        out, bits = np.empty_like(want), np.empty((*want.shape[:3], (o + 63) // 64), np.uint64)
        K._direct_conv(x, wt, b, (stride, stride), (1, 1), relu, out, slope=slope, bits=bits)
        assert_bits_equal(out, want)
        np.testing.assert_array_equal(bits, K.pack_bits(want))


@pytest.mark.parametrize(("k", "stride", "pad"),
                         [((1, 1), 1, 0), ((3, 3), 1, 1), ((3, 3), 2, 1), ((1, 3), 1, 0)])
@pytest.mark.parametrize("o", [1, 2, 5, 7, 8])
def test_few_outputs_sum_as_a_block_of_16_does(simd: str, threads: int, o: int, k: tuple[int, int],
                                               stride: int, pad: int) -> None:
    """A conv of up to 8 outputs (a detector's heads; on AVX2 8 pixels in the lanes, one vector a channel)
    gives the bits of the same conv with zero weights appended up to 16 outputs (one block, a pixel's channels
    in the lanes): the same order of fused multiply-adds, whatever the tile; ReLU and the taps' last partial
    group of 8 included."""
    rng = np.random.default_rng(o * 10 + k[1] + stride)
    for c in (64, 13, 3):
        x, wt, b = case(rng, 2, 6, 37, c, k, o, True)
        wide = np.concatenate([wt, np.zeros((*k, c, 16 - o), np.float32)], axis=3)
        bias16 = np.concatenate([b, np.zeros(16 - o, np.float32)])
        for relu in (False, True):
            want = K.conv2d_small(x, wide, bias16, stride, pad, relu)[..., :o]
            assert_bits_equal(K.conv2d_small(x, wt, b, stride, pad, relu), np.ascontiguousarray(want))


@pytest.mark.parametrize("relu", [False, True])
def test_conv2d_layer_with_fused_signs_on_a_1x1_conv(relu: bool) -> None:
    """A 1x1 layer on the direct kernel (which splits its pixels into ranges): conv2d_small's sums, and with
    fused signs the same bits, in the image's shape."""
    rng = np.random.default_rng(14)
    weight = rng.standard_normal((40, 1, 1, 24)).astype(np.float32)
    bias = rng.standard_normal(40).astype(np.float32)
    x = rng.standard_normal((2, 7, 9, 24)).astype(np.float32)
    want = K.conv2d_small(x, weight.transpose(1, 2, 3, 0).copy(), bias, 1, 0, relu)
    assert_bits_equal(Conv2d(weight, bias, (1, 1), (0, 0), 1, relu=relu)([x]), want)
    got, bits = Conv2d(weight, bias, (1, 1), (0, 0), 1, relu=relu, bits=True)([x])
    assert_bits_equal(got, want)
    np.testing.assert_array_equal(bits, K.pack_bits(want))


@pytest.mark.parametrize(("n", "h", "w", "c", "o"), [(3, 7, 7, 256, 40), (2, 1, 1, 8, 16), (1, 5, 3, 33, 70),
                                                     (1, 28, 28, 64, 128),
                                                     (1, 9, 13, 64, 5), (2, 5, 7, 20, 1), (1, 4, 11, 128, 8)])
def test_1x1_convs_split_their_pixels_bit_exactly(simd: str, threads: int, monkeypatch: pytest.MonkeyPatch,
                                                  n: int, h: int, w: int, c: int, o: int) -> None:
    """A 1x1 conv runs every image's pixels as ranges, one per thread: each pixel's sums are those of the
    pixel alone (the 1-pixel code), whatever range and tile it falls in; the signs likewise."""
    rng = np.random.default_rng(n * h * w + o)
    x, wt, b = case(rng, n, h, w, c, (1, 1), o, True)
    want = np.stack([K.conv2d_small(x[i:i + 1, y:y + 1, j:j + 1], wt, b, 1, 0, True)[0, 0, 0]
                     for i in range(n) for y in range(h) for j in range(w)]).reshape(n, h, w, o)
    got, bits = K.conv2d_small(x, wt, b, 1, 0, True, output="both")
    assert_bits_equal(got, want)
    np.testing.assert_array_equal(bits, K.pack_bits(want))
    with monkeypatch.context() as m:  # more ranges than threads (rows wider than an int would hold)
        m.setattr(K._fconv, "_MAX_RANGE_PIXELS", 5)
        assert_bits_equal(K.conv2d_small(x, wt, b, 1, 0, True), want)
    x[-1, -1, -1, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        K.conv2d_small(x, wt, b, 1, 0, False, output="both")
