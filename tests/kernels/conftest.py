"""Fixtures that run a test on every popcount path this CPU has, with 1 and 2 threads (and 2, one late)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xnorvision import kernels

PATHS = [name for name, code in kernels._PATHS.items() if kernels._bconv.path_supported(code)]


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
        monkeypatch.setattr(kernels, "_PARALLEL_VALUES", 1)
        monkeypatch.setattr(kernels, "_PARALLEL_WORD_OPS", 1)
        monkeypatch.setattr(kernels, "_PARALLEL_FLOAT_MACS", 1)
        monkeypatch.setattr(kernels, "_PARALLEL_FLOAT_MACS_PORTABLE", 1)
    for module in (kernels._bconv, kernels._fconv):
        module.late_thread(late_us)
    yield count
    for module in (kernels._bconv, kernels._fconv):
        module.late_thread(0)
    kernels.set_num_threads(before)
