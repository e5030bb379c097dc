"""Every wrong argument is a ValueError with a clear message, never a crash; threads and CPU queries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xnorvision import kernels as K

from .conftest import PATHS

X = np.zeros((1, 4, 4, 2), np.uint64)  # 100 channels
W = np.zeros((8, 3, 3, 2), np.uint64)
ONE, ZERO = np.ones(8, np.float32), np.zeros(8, np.float32)
U2, U3 = np.zeros((2, 2), np.uint64), np.zeros((2, 3), np.uint64)
F100 = np.zeros((1, 4, 4, 100), np.float32)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: K.pack_bits([1.0, -1.0]), "numpy array"),
    (lambda: K.pack_bits(np.ones(3, np.float64)), "dtype float32 or int8"),
    (lambda: K.pack_bits(np.ones((4, 4), np.float32)[:, ::2]), "C-contiguous"),
    (lambda: K.pack_bits(np.ones((0, 4), np.float32)), "empty"),
    (lambda: K.unpack_bits(np.zeros((2, 2), np.uint64), 64), "ceil"),
    (lambda: K.unpack_bits(np.zeros(1, np.uint64), 0), ">= 1"),
    (lambda: K.xnor_gemm(U2, U3, 128), "same number of words"),
    (lambda: K.xnor_gemm(U2, U2, 64), "ceil"),
    (lambda: K.xnor_gemm(np.zeros(2, np.uint64), np.zeros(2, np.uint64), 64), "2 dimensions"),
    (lambda: K.binary_conv2d(X, W, 200), "words per pixel"),
    (lambda: K.binary_conv2d(X, W[..., :1].copy(), 100), "words per tap"),
    (lambda: K.binary_conv2d(X, W, 100, stride=3), "stride"),
    (lambda: K.binary_conv2d(X, W, 100, padding="same"), "padding"),
    (lambda: K.binary_conv2d(X.astype(np.int64), W, 100), "uint64"),
    (lambda: K.binary_conv2d(X, np.zeros((8, 5, 5, 2), np.uint64), 100), "larger than"),
    (lambda: K.binary_conv2d(X, W, True), "int"),
    (lambda: K.binary_conv2d_fused(X, W, 100, ONE[:4], ZERO), r"shape \(8,\)"),
    (lambda: K.binary_conv2d_fused(X, W, 100, ONE, ZERO.astype(np.float64)), "float32"),
    (lambda: K.binary_conv2d_fused(X, W, 100, ONE * np.nan, ZERO), "finite"),
    (lambda: K.binary_conv2d_fused(X, W, 100, ONE, ZERO, output="int"), "output"),
    (lambda: K.bwn_conv2d(np.zeros((1, 4, 4, 3), np.float32), W, 100, ONE, ZERO), "channels"),
    (lambda: K.bwn_conv2d(F100, W, 100, ONE, ZERO, padding="same_one"), "padding"),
    (lambda: K.maxpool2d(np.zeros((1, 4, 4, 3), np.float32), 2, 2, padding=2), "half the kernel"),
    (lambda: K.maxpool2d(np.zeros((1, 4, 4, 3), np.float32), 0, 1), ">= 1"),
    (lambda: K.avgpool2d(np.zeros((1, 2, 2, 3), np.float32), 3, 1), "larger than"),
    (lambda: K.maxpool2d_bits(np.zeros((1, 4, 4, 3), np.float32), 2, 2), "uint64"),
    (lambda: K.set_num_threads(0), ">= 1"),
    (lambda: K._force_path("sse9"), "unknown SIMD path"),
])
def test_bad_arguments_raise_value_error(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_threads_round_trip() -> None:
    before = K.get_num_threads()
    try:
        K.set_num_threads(3)
        assert K.get_num_threads() == 3
    finally:
        K.set_num_threads(before)


def test_cpu_features_and_path_agree() -> None:
    feats = K.cpu_features()
    assert set(feats) >= {"avx2", "avx512f", "avx512_vpopcntdq", "neon"}
    expected = {"avx512": feats["avx512_vpopcntdq"] and feats["avx512f"], "neon": feats["neon"],
                "avx2": feats["avx2"], "portable": True}
    assert expected[K.simd_path()]
    # the best path wins: nothing faster than the chosen one is available
    order = ["avx512", "neon", "avx2", "portable"]
    assert not any(expected[p] for p in order[: order.index(K.simd_path())])


@pytest.mark.parametrize(("value", "expected"), [("portable", "portable"), ("sse9", "unknown SIMD path")])
def test_simd_environment_variable(value: str, expected: str) -> None:
    env = {**os.environ, "XNORVISION_SIMD": value}
    code = "from xnorvision import kernels; print(kernels.simd_path())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert expected in (done.stdout if expected == value else done.stderr)


def _halves_512() -> bool:
    """Whether /proc/cpuinfo names AMD's family 25 (Zen 4 where it has AVX-512), read apart from CPUID."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    pairs = (line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in pairs}
    return fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"


def test_float_kernels_take_avx2_where_512_bit_vectors_are_halves() -> None:
    """The float kernels run AVX2 for the AVX-512 popcount path on AMD Zen 4, the popcount path elsewhere."""
    for name, code in K._PATHS.items():
        if not K._bconv.path_supported(code):
            continue
        want = "avx2" if name == "avx512" and _halves_512() else name
        assert K._bconv.float_path(code) == K._PATHS[want]
    assert K.float_path() == ("avx2" if K.simd_path() == "avx512" and _halves_512() else K.simd_path())


def test_forcing_a_path_forces_the_float_kernels_too() -> None:
    """Tests force a path to cover its float kernels: a forced path runs every kernel, unless told apart."""
    try:
        for name in PATHS:
            K._force_path(name)
            assert (K.simd_path(), K.float_path()) == (name, name)
            K._force_path(None, name)
            assert K.float_path() == name
            assert K._path == K._bconv.best_path()
    finally:
        K._force_path(None)
    assert K.float_path() == K._path_name(K._bconv.float_path(K._path))


def test_float_simd_environment_variable() -> None:
    env = {**os.environ, "XNORVISION_FLOAT_SIMD": "portable"}
    env.pop("XNORVISION_SIMD", None)
    code = "from xnorvision import kernels; print(kernels.simd_path(), kernels.float_path())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    simd = K._bconv.best_path()
    assert done.stdout.split() == [K._path_name(simd), "portable"]
