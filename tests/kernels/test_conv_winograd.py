"""Winograd convs (xnv_fc_wino.h): ResNet's 7x7 stride-2 stem on x86 (AVX2, AVX-512), against float64."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import _fconv, _winograd
from xnorvision import kernels as K

from .conftest import PATHS
from .test_conv_small import assert_bits_equal, check, maxpool, random_lut, reference, winograd

pytestmark = pytest.mark.skipif("avx2" not in PATHS, reason="Winograd convs run on x86 with AVX2 only")


@pytest.mark.parametrize(("m", "r", "points"), [
    (4, 4, _winograd.ROW_POINTS), (4, 3, _winograd.ROW_POINTS[:6]), (2, 3, (0.0, 1.0, -1.0, None)),
    (2, 2, (None, 0.0, 1.0)), (2, 4, _winograd.COLUMN_POINTS), (2, 3, _winograd.COLUMN_POINTS[:4]),
])
def test_the_matrices_correlate(m: int, r: int, points: tuple) -> None:
    """y = A^T [(G g) * (B^T d)] is sum_k g[k] d[i + k], infinity anywhere in the order."""
    at, g, bt = _winograd.matrices(m, r, points)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(5):
        gg, d = rng.standard_normal(r), rng.standard_normal(m + r - 1)
        want = [gg @ d[i:i + r] for i in range(m)]
        np.testing.assert_allclose(at @ ((g @ gg) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


def test_the_matrices_need_one_infinity_and_n_points() -> None:
    with pytest.raises(ValueError, match="needs 6 points"):
        _winograd.matrices(4, 3, (0.0, 1.0, -1.0, 2.0, None))
    with pytest.raises(ValueError, match="infinity once"):
        _winograd.matrices(2, 3, (0.0, 1.0, -1.0, 2.0))


def test_which_convs_run_by_winograd_rows(simd: str) -> None:
    """The stem's geometry on AVX2 and AVX-512 only; not 3x3, stride 1, 5 channels or a partial block."""
    stem = winograd(3, (7, 7), (2, 2), (3, 3), 64)
    assert stem == (simd in ("avx2", "avx512"))
    assert not winograd(3, (3, 3), (2, 2), (1, 1), 64)
    assert not winograd(3, (7, 7), (1, 1), (3, 3), 64)
    assert not winograd(5, (7, 7), (2, 2), (3, 3), 64)
    assert not winograd(3, (7, 7), (2, 2), (3, 3), 40)


# (n, h, w, c, padding, o): odd widths (a last tile past the row), rows clipped at the top and bottom,
# one to four channels, 16 to 64 outputs, no padding to more than the kernel's half
SHAPES = [
    (1, 7, 7, 3, (3, 3), 64),  # one output row and column
    (1, 20, 23, 3, (3, 3), 64),
    (2, 19, 41, 1, (3, 3), 16),
    (7, 9, 30, 2, (3, 3), 32),  # a batch of 7: rows, never batched tiles
    (1, 12, 64, 4, (2, 5), 48),
    (1, 9, 17, 3, (0, 0), 16),
    (1, 33, 97, 3, (3, 3), 64),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[str(i) for i in range(len(SHAPES))])
def test_matches_the_reference(threads: int, shape: tuple) -> None:
    K._force_path("avx2")
    try:
        n, h, w, c, pad, o = shape
        assert winograd(c, (7, 7), (2, 2), pad, o)
        rng = np.random.default_rng(h * w + c)
        x = rng.standard_normal((n, h, w, c)).astype(np.float32)
        wt = rng.standard_normal((7, 7, c, o)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        for relu in (False, True):
            check(K.conv2d_small(x, wt, b, 2, pad, relu), reference(x, wt, b, (2, 2), pad, relu), True)
    finally:
        K._force_path(None)


def test_bits_do_not_depend_on_threads_or_the_image_place() -> None:
    """Tiles start at column 0 of every row and each input row is transformed the same way in every
    thread's ring: one thread or two, first image or last, the same bits."""
    K._force_path("avx2")
    before = K.get_num_threads()
    try:
        rng = np.random.default_rng(5)
        x = rng.standard_normal((3, 45, 61, 3)).astype(np.float32)
        x[2] = x[0]
        wt = rng.standard_normal((7, 7, 3, 64)).astype(np.float32)
        outs = []
        for t in (1, 2):
            K.set_num_threads(t)
            plan = K.DirectConvPlan(wt, None, 2, 3, True)
            out = np.empty((3, 23, 31, 64), np.float32)
            bound = plan.bind(x, out)
            bound.call.run()
            outs.append(out.copy())
        assert_bits_equal(outs[0], outs[1])
        assert_bits_equal(outs[0][0], outs[0][2])
    finally:
        K.set_num_threads(before)
        K._force_path(None)


@pytest.mark.parametrize("pool", [2, 3])
def test_a_fused_pool_sees_the_unfused_bits(threads: int, pool: int) -> None:
    """The ResNet stem on a uint8 frame, pooled in the kernel: bit for bit the pool of the unfused conv,
    and within rounding of the float64 reference."""
    K._force_path("avx2")
    try:
        rng = np.random.default_rng(pool)
        frame = rng.integers(0, 256, (1, 61, 75, 3), np.uint8)
        lut = random_lut(rng, 3)
        wt = rng.standard_normal((7, 7, 3, 64)).astype(np.float32)
        b = rng.standard_normal(64).astype(np.float32)
        conv = K.conv2d_small(frame, wt, b, 2, 3, True, lut=lut)
        assert_bits_equal(K.conv2d_small(frame, wt, b, 2, 3, True, lut=lut, pool=pool), maxpool(conv, pool))
        xf = lut[frame, np.arange(3)].astype(np.float32)
        check(conv, reference(xf, wt, b, (2, 2), (3, 3), True), True)
    finally:
        K._force_path(None)


@pytest.mark.skipif("avx512" not in PATHS, reason="this CPU has no AVX-512 path")
def test_avx512_gives_the_avx2_bits(threads: int) -> None:
    """The AVX-512 path runs the same 8-lane Winograd code (on Zen 4 its 16-lane direct tiles ran the stem
    1.6x slower): the same bits as AVX2, pooled and unpooled, where the direct tiles round otherwise."""
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (2, 45, 53, 3), np.uint8)
    lut = random_lut(rng, 3)
    wt = rng.standard_normal((7, 7, 3, 64)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    outs = {}
    try:
        for path in ("avx2", "avx512"):
            K._force_path(path)
            outs[path] = [K.conv2d_small(frame, wt, b, 2, 3, True, lut=lut, pool=pool) for pool in (None, 3)]
    finally:
        K._force_path(None)
    for got, want in zip(outs["avx512"], outs["avx2"], strict=True):
        assert_bits_equal(got, want)


def test_conv_tables_take_7x7_weights_only() -> None:
    with pytest.raises(ValueError, match="7x7 weights, not 5x5"):
        _winograd.conv_tables(np.zeros((5, 5, 3, 16), np.float32))
    tables = _winograd.conv_tables(np.ones((7, 7, 2, 16), np.float32))
    # B^T of both phases along the rows and down the columns, then U: (4 x 2 + 1) row points' phases x
    # (6 x 2 + 1) column points' phases x c x o
    assert tables.dtype == np.float32 and tables.shape == (2 * 7 * 7 + 2 * 5 * 5 + 9 * 13 * 2 * 16,)
    assert _fconv.winograd(2, 7, 7, 2, 2, 3, 16, K._PATHS["avx2"])


def test_weights_changed_in_place_give_new_tables() -> None:
    """conv2d_small binds on every call and the tables are kept by the weights' bytes, not their array."""
    K._force_path("avx2")
    try:
        rng = np.random.default_rng(8)
        x = rng.standard_normal((1, 15, 21, 3)).astype(np.float32)
        wt = rng.standard_normal((7, 7, 3, 16)).astype(np.float32)
        first = K.conv2d_small(x, wt, None, 2, 3)
        wt[3, 3, 1, :] += 1.0
        again = K.conv2d_small(x, wt, None, 2, 3)
        check(again, reference(x, wt, None, (2, 2), (3, 3), False), True)
        assert not np.array_equal(first, again)
        assert _winograd.conv_tables(wt) is _winograd.conv_tables(wt.copy())  # kept, and read-only
        assert not _winograd.conv_tables(wt).flags.writeable
    finally:
        K._force_path(None)
