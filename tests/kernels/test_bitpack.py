"""pack_bits / unpack_bits: bit layout, unused bits, NaN, and the round trip on signs."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref


@pytest.mark.parametrize("c", [1, 63, 64, 65, 200])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_pack_matches_reference_and_round_trips(simd: str, c: int, dtype: type) -> None:
    rng = np.random.default_rng(c)
    x = (rng.standard_normal((3, 5, c)) * 50).astype(dtype)
    p = K.pack_bits(x)
    assert p.dtype == np.uint64 and p.shape == (3, 5, (c + 63) // 64)
    np.testing.assert_array_equal(p, ref.pack_bits(x))
    if c % 64:
        assert not (p[..., -1] >> np.uint64(c % 64)).any(), "unused high bits must be zero"
    np.testing.assert_array_equal(K.unpack_bits(p, c), np.where(x < 0, -1, 1).astype(np.float32))


def test_pack_bit_order_and_zero_sign() -> None:
    x = np.zeros(70, np.float32)
    x[[0, 5, 64, 69]] = -1.0
    x[1] = -0.0  # not < 0: packs as +1
    p = K.pack_bits(x)
    assert p.tolist() == [(1 << 0) | (1 << 5), (1 << 0) | (1 << 5)]


def test_pack_large_input_threaded(threads: int) -> None:
    x = np.random.default_rng(0).standard_normal((4, 64, 64, 96)).astype(np.float32)
    np.testing.assert_array_equal(K.pack_bits(x), ref.pack_bits(x))


@pytest.mark.parametrize("at", [0, 37, 63, 64, 99])
def test_pack_rejects_nan(simd: str, at: int) -> None:
    """Wherever it is: in a whole 64-channel word (the vector paths) or in the last, short one."""
    x = np.ones((2, 100), np.float32)
    x[1, at] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        K.pack_bits(x)
