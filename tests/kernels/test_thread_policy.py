"""How many threads a bound call gets: its work against the thresholds, counted as the kernel spends it.

The thresholds stand for time (~0.3-1 ms cautious, ~40 us eager), so the work of a call must be counted in
what takes the kernel time: AVX2's popcount words, a dense layer's whole panels, and its weights streamed
once per row when there are few rows. Under-counted, calls of the faces proposal net (its 10x13x128 conv,
its 5-output stride-8 head) and ResNet-18's classifier stayed on one thread at 2 threads.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref


@pytest.fixture
def two_threads() -> Iterator[None]:
    with K.using_threads(2):
        yield


def _binary_conv_threads(hw: tuple[int, int], c: int) -> tuple[int, int]:
    rng = np.random.default_rng(0)
    w = K.BinaryConvWeights(ref.pack_bits(rng.standard_normal((c, 3, 3, c)).astype(np.float32)), c)
    ones = np.ones(c, np.float32)
    plan = K.BinaryConvPlan(w, ones, ones * 0, 1, "same_zero", "float")
    x = ref.pack_bits(rng.standard_normal((1, *hw, c)).astype(np.float32))
    return plan.bind(x, None, np.empty((1, *hw, c), np.float32)).threads


@pytest.mark.skipif(not K._bconv.path_supported(K._PATHS["avx2"]), reason="this CPU has no AVX2")
def test_avx2_counts_a_popcount_word_as_twice_avx512s(two_threads: None) -> None:
    K._force_path("avx2")
    try:
        # the faces net's 10x13x128 conv: 300K word ops, about 50 us on AVX2
        assert _binary_conv_threads((10, 13), 128) == (1, 2)
        assert _binary_conv_threads((3, 3), 128) == (1, 1)  # ~2 us: never worth a hand-over
        assert K._parallel_word_ops() == K._PARALLEL_WORD_OPS // 2
    finally:
        K._force_path(None)


def test_a_path_with_vpopcntdq_keeps_the_full_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(K, "_path", K._PATHS["avx512"])
    assert K._parallel_word_ops() == K._PARALLEL_WORD_OPS


def _dense_threads(rows: int, k: int, o: int) -> tuple[int, int]:
    rng = np.random.default_rng(1)
    w, bias = rng.standard_normal((o, k)).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    plan = K.DensePlan(w, bias)
    x = rng.standard_normal((rows, k)).astype(np.float32)
    return plan.bind(x, np.empty((rows, o), np.float32)).threads


@pytest.mark.skipif(not K.dense_available(), reason="no dense kernel on this path")
def test_dense_work_counts_whole_panels_and_a_floor_of_rows(two_threads: None) -> None:
    assert _dense_threads(2080, 64, 5) == (1, 2)  # a 1x1 head: 5 outputs run as a panel of 16
    assert _dense_threads(1, 512, 1000) == (1, 2)  # a classifier: 2 MB of weights for one row
    assert _dense_threads(1, 64, 10) == (1, 1)  # a tiny one stays on its thread
    assert _dense_threads(8192, 512, 1000) == (2, 2)  # real work goes parallel under either policy
