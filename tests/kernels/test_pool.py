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
