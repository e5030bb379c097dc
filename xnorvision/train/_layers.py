"""Binary layers with latent real weights: ``"bwn"`` (binary weights), ``"xnor"`` (weights and inputs).

The latent weight ``W`` is what the optimiser updates; the forward pass uses ``alpha * sign(W)`` with
``alpha = mean |W|`` per output channel (XNOR-Net's optimal scaling). In eval mode the layers compute exactly
what the runtime computes: an exact integer (xnor) or float (bwn) accumulation ``acc`` against ``sign(W)``,
then ``y = scale * acc + bias`` in float32, so exported models make the same sign decisions bit for bit.
``scale``/``bias`` default to ``alpha``/the layer bias; :func:`xnorvision.train._export.fuse_for_runtime`
folds a following batch norm into them (``out_scale``/``out_bias``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xnorvision.train._estimators import ESTIMATORS, hard_sign, sign

__all__ = ["MODES", "BinaryConv2d", "BinaryLinear", "SignActivation"]

MODES = ("bwn", "xnor")


def _check(mode: str, estimator: str, weight_estimator: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown binary mode {mode!r}; known: {', '.join(MODES)}")
    for name in (estimator, weight_estimator):
        if name not in ESTIMATORS:
            raise ValueError(f"unknown sign estimator {name!r}; known: {', '.join(sorted(ESTIMATORS))}")


class _BinaryMixin:
    """What the conv and linear variants share: modes, alpha, the runtime-exact eval transform."""

    weight: nn.Parameter
    bias: nn.Parameter | None
    mode: str
    estimator: str
    weight_estimator: str
    out_scale: torch.Tensor | None
    out_bias: torch.Tensor | None
    training: bool

    def _init_binary(self, mode: str, estimator: str, weight_estimator: str) -> None:
        _check(mode, estimator, weight_estimator)
        self.mode, self.estimator, self.weight_estimator = mode, estimator, weight_estimator
        # Set by fuse_for_runtime: the folded output transform (alpha, bias and a following batch norm).
        self.register_buffer("out_scale", None)  # type: ignore[attr-defined]
        self.register_buffer("out_bias", None)  # type: ignore[attr-defined]

    def alpha(self) -> torch.Tensor:
        """Per-output-channel scaling factor ``mean |W|`` (shape ``[O]``)."""
        return self.weight.abs().flatten(1).mean(dim=1)

    def output_transform(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, bias)`` of ``y = scale * acc + bias`` in float32, as the exporter writes them."""
        if self.out_scale is not None and self.out_bias is not None:
            return self.out_scale, self.out_bias
        alpha = self.alpha().detach().float()
        bias = self.bias.detach().float() if self.bias is not None else torch.zeros_like(alpha)
        return alpha, bias

    def _binary_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "bwn":
            return x
        return sign(x, self.estimator) if self.training else hard_sign(x)

    def _train_weight(self) -> torch.Tensor:
        shape = (-1,) + (1,) * (self.weight.dim() - 1)
        return self.alpha().view(shape) * sign(self.weight, self.weight_estimator)

    def _apply_transform(self, acc: torch.Tensor) -> torch.Tensor:
        scale, bias = self.output_transform()
        shape = (1, -1) + (1,) * (acc.dim() - 2)
        # Two float32 roundings (multiply, then add), the same as the runtime's scale * acc + bias.
        return acc * scale.view(shape) + bias.view(shape)


class BinaryConv2d(_BinaryMixin, nn.Conv2d):
    """A ``Conv2d`` whose weights (``"bwn"``) or weights and inputs (``"xnor"``) are binarized.

    ``pad_value`` says what the binarized input is padded with: 0 (PyTorch's zero padding of a ±1 tensor)
    or 1 (pad with +1, which the runtime's popcount handles without a correction term).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int = 0, bias: bool = False, *, mode: str = "xnor",
                 estimator: str = "ste", weight_estimator: str = "identity", pad_value: int = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        if pad_value not in (0, 1):
            raise ValueError("pad_value must be 0 or 1")
        self.pad_value = pad_value
        self._init_binary(mode, estimator, weight_estimator)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        padding = self.padding
        if self.pad_value == 1 and self.mode == "xnor" and any(self.padding):  # type: ignore[arg-type]
            ph, pw = self.padding  # type: ignore[misc]
            x = F.pad(x, (pw, pw, ph, ph), value=1.0)
            padding = (0, 0)
        return F.conv2d(x, weight, None, self.stride, padding, self.dilation, self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = self._binary_input(x)
        if self.training:
            y = self._conv(xb, self._train_weight())
            return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
        return self._apply_transform(self._conv(xb, hard_sign(self.weight)))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, mode={self.mode}, estimator={self.estimator}, "
                f"pad_value={self.pad_value}")


class BinaryLinear(_BinaryMixin, nn.Linear):
    """A ``Linear`` whose weights (``"bwn"``) or weights and inputs (``"xnor"``) are binarized."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, mode: str = "xnor",
                 estimator: str = "ste", weight_estimator: str = "identity") -> None:
        super().__init__(in_features, out_features, bias=bias)
        self._init_binary(mode, estimator, weight_estimator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = self._binary_input(x)
        if self.training:
            return F.linear(xb, self._train_weight(), self.bias)
        return self._apply_transform(F.linear(xb, hard_sign(self.weight)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode}, estimator={self.estimator}"


class SignActivation(nn.Module):
    """An explicit binary activation (exported as a ``sign`` node), e.g. before a max pool on bits."""

    def __init__(self, estimator: str = "ste") -> None:
        super().__init__()
        _check("xnor", estimator, "identity")
        self.estimator = estimator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign(x, self.estimator) if self.training else hard_sign(x)

    def extra_repr(self) -> str:
        return f"estimator={self.estimator}"
