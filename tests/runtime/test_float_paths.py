"""The float kernels' path is chosen per CPU (kernels.float_path: AVX2 where 512-bit vectors run as halves),
which is safe only because every path with fused multiply-adds gives the same bits: whole networks here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xnorvision import kernels
from xnorvision.runtime import Model
from xnorvision.runtime._reference import write_reference

FACES = Path(__file__).parents[2] / "plugins/xnorvision-faces/xnorvision_faces/models"
#: float paths with fused multiply-adds on this CPU (x86's portable path has none)
FMA_PATHS = [name for name in ("avx2", "avx512") if kernels._bconv.path_supported(kernels._PATHS[name])]


@pytest.mark.skipif(len(FMA_PATHS) < 2, reason="this CPU has one FMA float path")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("network", ["resnet18", "faces-proposal", "faces-classifier"])
def test_every_fma_float_path_gives_the_same_bits(tmp_path: Path, network: str, threads: int) -> None:
    """ResNet-18's stem, shortcuts and classifier, the faces nets' stems, BWN convs and heads: the same
    outputs whichever float path runs them (the popcount path stays this CPU's best)."""
    if network == "resnet18":
        path, shape = write_reference("resnet18", tmp_path / "r.xnv"), (1, 224, 224, 3)
    elif network == "faces-proposal":
        path, shape = FACES / "proposal.xnv", (1, 320, 416, 3)
    else:
        path, shape = FACES / "classifier.xnv", (24, 32, 32, 3)
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
