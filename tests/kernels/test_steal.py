"""How a parallel region's threads share its work (``xnv_steal.h``): each takes its own share from the front,
and a thread whose share ran dry takes the back half of another's, so that a thread on a slower core (its
host core shared, another program beside it) does not hold the region up. The sharing decides only who
computes what: the results are the same bits whichever thread computes them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from xnorvision import kernels as K

from . import reference as ref
from .conftest import every_call_parallel, late_thread


@pytest.fixture
def late() -> Iterator[None]:
    """Leaves every module's threads on time after the test."""
    yield
    late_thread(0)


@pytest.mark.parametrize("n", [1, 2, 5, 64, 333])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("late_us", [0, 500])
def test_every_unit_runs_once(late: None, n: int, threads: int, late_us: int) -> None:
    late_thread(late_us)
    who = K._fconv.steal_trace(n, threads, 2e-5)
    assert who.shape == (n,)
    assert ((who >= 0) & (who < threads)).all()  # each unit ran, by one of the threads (-1: none)


def test_the_others_take_a_late_threads_share(late: None) -> None:
    """64 units of 0.1 ms on 2 threads, the second 100 ms late: the first runs its own 32 in order, then the
    second's (a static split would leave the second its 32, and the region would take 103 ms)."""
    late_thread(100_000)
    who = K._fconv.steal_trace(64, 2, 1e-4)
    assert (who[:32] == 0).all()
    assert (who == 0).sum() > 40


def test_a_thread_that_wakes_midway_keeps_the_front_of_its_share(late: None) -> None:
    """The second thread 2 ms late, units of 0.1 ms: it starts at the front of its share, the first thread
    took from the back of it; each ran one contiguous stretch of the second share. Who runs what depends on
    the scheduler (on a loaded machine the first thread may lose its core instead), so the run may be
    repeated; taking from the wrong end of a range fails every time."""
    late_thread(2_000)
    for _ in range(5):
        who = K._fconv.steal_trace(64, 2, 1e-4)
        mine = np.flatnonzero(who == 1)
        if ((who[:32] == 0).all() and mine.size and mine[0] == 32 and (np.diff(mine) == 1).all()
                and (who[mine[-1] + 1:] == 0).all() and who[-1] == 0):
            return
    pytest.fail(f"in 5 runs, never the first share to the first thread and a front of the second share to "
                f"the second; the last: {who.tolist()}")


def _bireal_block(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A Bi-Real conv of ResNet-18's first stage (56 x 56 x 64: residual, PReLU and signs fused)."""
    c = o = 64
    w = K.BinaryConvWeights(ref.pack_bits(rng.standard_normal((o, 3, 3, c)).astype(np.float32)), c)
    scale, bias = rng.uniform(0.1, 2, o).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    slope = rng.uniform(0, 0.5, o).astype(np.float32)
    x = ref.pack_bits(rng.standard_normal((1, 56, 56, c)).astype(np.float32))
    res = rng.standard_normal((1, 56, 56, o)).astype(np.float32)
    plan = K.BinaryConvPlan(w, scale, bias, 1, "same_zero", "both", slope, True)
    return tuple(np.copy(a) for a in plan(x, res))


#: a byte-to-float table for a 3-channel uint8 frame
LUT = np.stack([(np.arange(256, dtype=np.float32) - 128) / 64] * 3, axis=1)


def _stem(rng: np.random.Generator, pool: int | None) -> tuple[np.ndarray, ...]:
    """ResNet-18's stem on a 224 x 224 uint8 frame (Winograd on AVX2), with or without its fused pool."""
    frame = rng.integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    wt = (rng.standard_normal((7, 7, 3, 64)) * 0.1).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    return (np.copy(K.conv2d_small(frame, wt, b, 2, 3, True, lut=LUT, pool=pool)),)


def _faces_stem(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The faces net's first conv on a 320 x 416 frame: 3x3 stride 2, 3 -> 16, ReLU, the 2x2 pool fused."""
    frame = rng.integers(0, 256, (1, 320, 416, 3), dtype=np.uint8)
    wt = rng.standard_normal((3, 3, 3, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    return (np.copy(K.conv2d_small(frame, wt, b, 2, 1, True, lut=LUT, pool=2)),)


LAYERS = {"bireal-56": _bireal_block, "stem": lambda rng: _stem(rng, None),
          "stem-pool3": lambda rng: _stem(rng, 3), "faces-stem": _faces_stem}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_layers_give_the_same_bits_whoever_computes_them(late: None, monkeypatch: pytest.MonkeyPatch,
                                                         layer: str) -> None:
    """Real layers (a millisecond or so of work), the second thread waking at several points of the region:
    before, among and after the first thread's takes of its share. Every run equals the one-thread run."""
    before = K.get_num_threads()
    try:
        K.set_num_threads(1)
        want = LAYERS[layer](np.random.default_rng(1))
        K.set_num_threads(2)
        every_call_parallel(monkeypatch)
        for late_us in (0, 30, 150, 600, 3_000):
            late_thread(late_us)
            got = LAYERS[layer](np.random.default_rng(1))
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g.view(np.uint8), w.view(np.uint8),
                                              err_msg=f"late {late_us} us")
    finally:
        K.set_num_threads(before)
