"""Sign functions with named gradient estimators, so a recipe can say its binarization in a string.

The forward pass is always ``+1 if x >= 0 else -1`` (zero maps to +1, exactly as the runtime does); only the
backward pass differs. Names follow larq's habit of looking quantizers up by string.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ESTIMATORS", "hard_sign", "sign"]


def hard_sign(x: torch.Tensor) -> torch.Tensor:
    """The runtime's sign: +1 where ``x >= 0`` (zero included), -1 elsewhere; no gradient."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _ste_grad(x: torch.Tensor) -> torch.Tensor:
    """Clipped identity (Hubara et al. / XNOR-Net): pass the gradient where |x| <= 1."""
    return (x.abs() <= 1).to(x.dtype)


def _bireal_grad(x: torch.Tensor) -> torch.Tensor:
    """Bi-Real Net's piecewise-polynomial approximation of sign: d/dx = 2 - 2|x| on |x| < 1."""
    return torch.clamp(2 - 2 * x.abs(), min=0)


def _identity_grad(x: torch.Tensor) -> torch.Tensor:
    """Unclipped straight-through: the usual choice for latent weights, which rarely leave [-1, 1]."""
    return torch.ones_like(x)


ESTIMATORS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ste": _ste_grad,
    "bireal": _bireal_grad,
    "identity": _identity_grad,
}


class _Sign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.name = name
        return hard_sign(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ESTIMATORS[ctx.name](x), None


def sign(x: torch.Tensor, estimator: str = "ste") -> torch.Tensor:
    """``hard_sign`` forward, the named estimator's gradient backward."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown sign estimator {estimator!r}; known: {', '.join(sorted(ESTIMATORS))}")
    return _Sign.apply(x, estimator)
