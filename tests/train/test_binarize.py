"""binarize(): which layers become binary, and the paper's block order inside Sequentials."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from xnorvision.train._binarize import binarize  # noqa: E402
from xnorvision.train._layers import BinaryConv2d, BinaryLinear  # noqa: E402


def _vgg() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 8 * 8, 10),
    )


def test_xnor_keeps_first_last_and_reorders_blocks() -> None:
    model = binarize(_vgg(), mode="xnor")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "MaxPool2d", "BatchNorm2d", "BinaryConv2d", "MaxPool2d", "BatchNorm2d",
                     "BinaryConv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear"]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_bwn_keeps_order_and_weights() -> None:
    ref = _vgg()
    model = binarize(_vgg(), mode="bwn")
    model.load_state_dict(ref.state_dict())
    assert [type(m) for m in model][:4] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    assert isinstance(model[4], BinaryConv2d) and model[4].mode == "bwn"
    assert torch.equal(model[4].weight, ref[4].weight)


def test_without_keep_first_last_everything_is_binary() -> None:
    model = binarize(_vgg(), mode="xnor", keep_first_last=False)
    assert all(type(m) not in (nn.Conv2d, nn.Linear) for m in model)
    assert isinstance(model[-1], BinaryLinear)


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        binarize(_vgg(), mode="ternary")
