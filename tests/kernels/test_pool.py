"""Pooling: packed max is a bitwise AND, float max/avg clip the window to real cells."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref

GEOMETRIES = [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0), (5, 3, 2)]


@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES)
def test_pools_match_reference(threads: int, kernel: int, stride: int, padding: int) -> None:
    rng = np.random.default_rng(kernel * 10 + stride)
    x = rng.standard_normal((2, 7, 6, 70)).astype(np.float32)
    got = K.maxpool2d_bits(K.pack_bits(x), kernel, stride, padding)
    np.testing.assert_array_equal(got, ref.pool(ref.pack_bits(x), kernel, stride, padding, "and"))
    # and it is the max of the ±1 values
    maxed = K.maxpool2d(np.where(x < 0, -1, 1).astype(np.float32), kernel, stride, padding)
    np.testing.assert_array_equal(K.unpack_bits(got, 70), maxed)
    geometry = (kernel, stride, padding)
    np.testing.assert_array_equal(K.maxpool2d(x, *geometry), ref.pool(x, *geometry, "max"))
    want = ref.pool(x, *geometry, "mean")
    np.testing.assert_allclose(K.avgpool2d(x, *geometry), want, rtol=1e-5, atol=1e-6)


def test_padded_cells_never_win() -> None:
    x = np.full((1, 2, 2, 3), -5.0, np.float32)
    assert (K.maxpool2d(x, 3, 1, 1) == -5.0).all()  # zero padding would have won
    assert (K.avgpool2d(x, 3, 1, 1) == -5.0).all()  # and would have diluted the mean
    ones = K.pack_bits(x)  # every channel -1: AND over real cells keeps it
    np.testing.assert_array_equal(K.maxpool2d_bits(ones, 3, 1, 1)[0, 0, 0], ones[0, 0, 0])


# ------------------------------------------------------------------------- bit-exact fold references
def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return v if isinstance(v, tuple) else (v, v)


def _fold_pool(x: np.ndarray, kernel, stride, padding, op: str) -> np.ndarray:
    """The kernel's exact arithmetic, elementwise in x.dtype: the first cell of the row-major window starts
    the fold; "max" takes a later cell only where it is greater (so NaN and -0/+0 ties keep the earlier
    value unless the first cell is NaN), "mean" adds in float32 then divides by the real cell count (a NaN
    sum keeps the first NaN it met: the kernel's accumulator is the add's first operand)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    n, h, w, c = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.empty((n, ho, wo, c), x.dtype)
    with np.errstate(invalid="ignore"):
        for oy in range(ho):
            for ox in range(wo):
                y0, x0 = oy * sh - ph, ox * sw - pw
                cells = [(y, xx) for y in range(max(y0, 0), min(y0 + kh, h))
                         for xx in range(max(x0, 0), min(x0 + kw, w))]
                acc = x[:, cells[0][0], cells[0][1]].copy()
                for y, xx in cells[1:]:
                    v = x[:, y, xx]
                    if op == "and":
                        acc = acc & v
                    elif op == "max":
                        acc = np.where(v > acc, v, acc)
                    else:
                        acc = np.where(np.isnan(acc), acc, acc + v)
                out[:, oy, ox] = acc / np.float32(len(cells)) if op == "mean" else acc
    return out


def _assert_pools_exact(x: np.ndarray, words: np.ndarray, geometry: tuple) -> None:
    """max and mean bit for bit (zero signs, NaN payloads of max), AND of packed words."""
    np.testing.assert_array_equal(_bits(K.maxpool2d(x, *geometry)), _bits(_fold_pool(x, *geometry, "max")))
    np.testing.assert_array_equal(_bits(K.avgpool2d(x, *geometry)), _bits(_fold_pool(x, *geometry, "mean")))
    np.testing.assert_array_equal(K.maxpool2d_bits(words, *geometry), _fold_pool(words, *geometry, "and"))


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32)


CHANNELS = [1, 3, 4, 5, 16, 17, 64, 130]
SIZES = [(1, 1), (3, 5), (7, 6)]


@pytest.mark.parametrize("c", CHANNELS)
@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES[:4])
def test_pools_bit_exact(threads: int, c: int, kernel: int, stride: int, padding: int) -> None:
    rng = np.random.default_rng(c * 1000 + kernel * 100 + stride * 10 + padding)
    for n in (1, 3):
        for h, w in SIZES:
            if h + 2 * padding < kernel or w + 2 * padding < kernel:
                continue
            x = rng.standard_normal((n, h, w, c)).astype(np.float32)
            words = rng.integers(0, 2**64, (n, h, w, c), dtype=np.uint64)  # c words: 1 to 130 words a cell
            _assert_pools_exact(x, words, (kernel, stride, padding))


@pytest.mark.parametrize(("shape", "geometry"), [
    ((1, 160, 208, 16), (2, 2, 0)), ((2, 40, 52, 64), (2, 2, 0)), ((24, 16, 16, 16), (2, 2, 0)),
    ((3, 9, 11, 32), (2, 2, 0)), ((1, 13, 10, 24), (3, 2, 1)), ((2, 10, 9, 7), (3, 1, 1)),
    ((1, 8, 9, 12), ((2, 3), (1, 2), (1, 0))), ((1, 6, 7, 9), ((3, 1), (2, 1), (0, 0))),
    ((1, 11, 12, 36), (4, 3, 2)), ((1, 9, 9, 20), (5, 3, 2)),
])
def test_pools_bit_exact_network_shapes(threads: int, shape: tuple[int, ...], geometry: tuple) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    words = rng.integers(0, 2**64, (*shape[:3], max(1, shape[3] // 16)), dtype=np.uint64)
    _assert_pools_exact(x, words, geometry)


@pytest.mark.parametrize("c", [1, 4, 7, 16, 33])
@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES)
def test_pools_nan_inf_signed_zero(threads: int, c: int, kernel: int, stride: int, padding: int) -> None:
    """Pinned semantics: max keeps the first cell unless a later one is strictly greater, so a NaN wins
    only as the window's first (clipped, row-major) cell and ties of -0/+0 keep the earlier zero; the mean
    is NaN wherever a NaN (or inf - inf) is summed."""
    rng = np.random.default_rng(c + 7 * kernel + 3 * stride + padding)
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0], np.float32)
    x = rng.choice(specials, size=(2, 9, 8, c)).astype(np.float32)
    x[..., 1::3] = rng.standard_normal(x[..., 1::3].shape).astype(np.float32)  # some ordinary values too
    geometry = (kernel, stride, padding)
    got = K.maxpool2d(x, *geometry)
    want = _fold_pool(x, *geometry, "max")
    assert np.isnan(want).any() and (np.isnan(got) == np.isnan(want)).all()
    np.testing.assert_array_equal(_bits(got), _bits(want))  # same NaN payloads, same zero signs
    with np.errstate(invalid="ignore"):
        got, want = K.avgpool2d(x, *geometry), _fold_pool(x, *geometry, "mean")
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got, want)
    finite = ~np.isnan(want)
    np.testing.assert_array_equal(_bits(got[finite]), _bits(want[finite]))  # zero signs too


def test_max_nan_only_from_first_cell() -> None:
    x = np.array([[[[np.nan], [1.0]], [[2.0], [3.0]]]], np.float32)  # 2x2, NaN first
    assert np.isnan(K.maxpool2d(x, 2, 2, 0)).all()
    y = np.array([[[[1.0], [np.nan]], [[2.0], [np.nan]]]], np.float32)  # NaN later: skipped
    assert K.maxpool2d(y, 2, 2, 0)[0, 0, 0, 0] == 2.0
    z = np.array([[[[-0.0], [0.0]], [[0.0], [-0.0]]]], np.float32)
    assert np.signbit(K.maxpool2d(z, 2, 2, 0)[0, 0, 0, 0])  # -0 first, +0 is not greater
    assert np.isnan(K.avgpool2d(y, 2, 2, 0)).all()


@pytest.mark.parametrize("ops", [("avgpool2d", "maxpool2d"), ("maxpool2d", "avgpool2d", "avgpool2d"),
                                 ("maxpool2d", "maxpool2d", "avgpool2d", "maxpool2d")])
@pytest.mark.parametrize("c", [1, 3, 5, 16, 64])
@pytest.mark.parametrize(("kernel", "stride", "padding"), GEOMETRIES)
def test_pools_side_by_side_are_their_concat(threads: int, ops: tuple, c: int, kernel: int, stride: int,
                                            padding: int) -> None:
    """Each pool's channels of every pixel hold its own result bit for bit (NaN payloads and zero signs
    too): a channel count off a whole vector ends with an overlapping vector that must stay in its slot."""
    rng = np.random.default_rng(c * 10 + len(ops) + kernel)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    x = rng.standard_normal((2, 9, 8, c)).astype(np.float32)
    x[0, ::3, ::2] = rng.choice(specials, x[0, ::3, ::2].shape)
    geometry = (kernel, stride, padding)
    with np.errstate(invalid="ignore"):
        want = np.concatenate([getattr(K, op)(x, *geometry) for op in ops], axis=-1)
        got = K.pools_side_by_side(ops, x, *geometry)
    np.testing.assert_array_equal(_bits(got), _bits(want))


@pytest.mark.parametrize(("ops", "match"), [
    ((), "1 to 4"), (("avgpool2d",) * 5, "1 to 4"), (("avgpool2d", "minpool"), "1 to 4"),
    (("maxpool2d", "maxpool2d_bits"), "float pools")])
def test_pools_side_by_side_bad_ops(ops: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        K.pools_side_by_side(ops, np.zeros((1, 4, 4, 3), np.float32), 2, 2)
