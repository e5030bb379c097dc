"""The float kernels' path is chosen per CPU (kernels.float_path: AVX2 where 512-bit vectors run as halves),
which is safe only because every path with fused multiply-adds gives the same bits: whole networks here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xnorvision import kernels
from xnorvision.runtime import Model

from .graphs import PROFILED_NETWORKS, profiled_network

#: float paths with fused multiply-adds on this CPU (x86's portable path has none)
FMA_PATHS = [name for name in ("avx2", "avx512") if kernels._bconv.path_supported(kernels._PATHS[name])]


@pytest.mark.skipif(len(FMA_PATHS) < 2, reason="this CPU has one FMA float path")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("network", PROFILED_NETWORKS)
def test_every_fma_float_path_gives_the_same_bits(tmp_path: Path, network: str, threads: int) -> None:
    """ResNet-18's stem, shortcuts and classifier, the faces nets' stems, BWN convs and heads: the same
    outputs whichever float path runs them (the popcount path stays this CPU's best)."""
    path, shape = profiled_network(network, tmp_path)
    images = np.random.default_rng(3).integers(0, 256, shape, np.uint8)
    outs = []
    try:
        for name in FMA_PATHS:
            kernels._force_path(None, name)
            outs.append(Model.load(path, threads=threads).run(images))
    finally:
        kernels._force_path(None)
    for other in outs[1:]:
        assert list(other) == list(outs[0])
        for key in outs[0]:
            np.testing.assert_array_equal(other[key].view(np.uint8), outs[0][key].view(np.uint8), err_msg=key)
