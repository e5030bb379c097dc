"""bwn_conv2d: float input, ±1 weights, per-channel scale and bias."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref
from .conftest import PATHS


@pytest.mark.parametrize(("shape", "stride", "padding"), [
    ((2, 9, 8, 3, 16, 3, 3), 1, "same"),
    ((1, 9, 8, 3, 16, 3, 3), 2, "same"),
    ((1, 6, 6, 70, 5, 3, 3), 1, "valid"),
    ((1, 5, 4, 20, 8, 1, 1), 1, "valid"),
    ((1, 7, 7, 8, 4, 5, 5), 2, "same"),
    ((1, 16, 52, 16, 64, 3, 3), 2, "same"),  # the faces proposal net's BWN stem (its 80x104 input, cut)
    ((1, 5, 30, 24, 40, 3, 3), 1, "same"),  # 3 blocks of 16 channels, the last one masked
    ((1, 5, 30, 8, 65, 3, 3), 1, "same"),  # more outputs than the direct kernel's tile: the GEMM
    ((1, 5, 9, 80, 16, 3, 3), 1, "same"),  # 720 taps: the GEMM
])
def test_bwn_matches_reference(simd: str, threads: int, shape: tuple[int, ...], stride: int,
                               padding: str) -> None:
    n, h, w, c, o, kh, kw = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wp = ref.pack_bits(rng.standard_normal((o, kh, kw, c)).astype(np.float32))
    scale = rng.uniform(0.1, 2, o).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    ph, pw = (ref.same_pad(kh), ref.same_pad(kw)) if padding == "same" else (0, 0)
    want = scale * ref.conv_float(x, ref.unpack_bits(wp, c), stride, ph, pw, 0.0) + bias
    got = K.bwn_conv2d(x, wp, c, scale, bias, stride, padding)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_bwn_weight_cache_sees_changed_weights_scale_and_bias() -> None:
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


def test_bwn_on_avx512_is_the_direct_float_kernel_bit_for_bit() -> None:
    """Up to 64 outputs the AVX-512 path runs the direct kernel on the ±scale weights, not im2col + sgemm:
    its sums are those of conv2d_small, bit for bit (a GEMM sums in another order)."""
    if "avx512" not in PATHS:
        pytest.skip("no AVX-512 on this CPU")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 16, 52, 16)).astype(np.float32)
    wp = ref.pack_bits(rng.standard_normal((64, 3, 3, 16)).astype(np.float32))
    scale = rng.uniform(0.1, 2, 64).astype(np.float32)
    bias = rng.standard_normal(64).astype(np.float32)
    hwio = np.ascontiguousarray((ref.unpack_bits(wp, 16) * scale[:, None, None, None]).transpose(1, 2, 3, 0))
    try:
        K._force_path("avx512")
        got = K.bwn_conv2d(x, wp, 16, scale, bias, 2, "same")
        want = K.conv2d_small(x, hwio, bias, 2, 1)
    finally:
        K._force_path(None)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
