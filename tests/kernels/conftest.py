"""Fixtures that run a test on every popcount path this CPU has, with 1 and 2 threads (and 2, one late)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xnorvision import kernels

PATHS = [name for name, code in kernels._PATHS.items() if kernels._bconv.path_supported(code)]
#: the thresholds below which a kernel call stays on one thread
PARALLEL_THRESHOLDS = ("_PARALLEL_VALUES", "_PARALLEL_WORD_OPS", "_PARALLEL_FLOAT_MACS",
                       "_PARALLEL_FLOAT_MACS_PORTABLE")


def every_call_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kernel call goes parallel, whatever its size (test inputs are below the real thresholds)."""
    for name in PARALLEL_THRESHOLDS:
        monkeypatch.setattr(kernels, name, 1)


def late_thread(us: int) -> None:
    """The last thread of every conv region (binary, BWN, direct, dense) starts ``us`` microseconds late."""
    for module in (kernels._bconv, kernels._bwn, kernels._fconv):
        module.late_thread(us)


@pytest.fixture(params=PATHS)
def simd(request: pytest.FixtureRequest) -> Iterator[str]:
    """Forces one popcount path for the test, restoring the default after."""
    kernels._force_path(request.param)
    yield request.param
    kernels._force_path(None)


@pytest.fixture(params=[(1, 0), (2, 0), (2, 300)], ids=["1t", "2t", "2t-late"])
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """1 or 2 threads; with 2, every call goes parallel (test inputs are below the real thresholds). In
    2t-late the second thread of every conv's parallel region starts 300 us late, so that the first takes
    its work, range by range (``xnv_steal.h``): the results must not change."""
    count, late_us = request.param
    before = kernels.get_num_threads()
    kernels.set_num_threads(count)
    if count > 1:
        every_call_parallel(monkeypatch)
    late_thread(late_us)
    yield count
    late_thread(0)
    kernels.set_num_threads(before)
