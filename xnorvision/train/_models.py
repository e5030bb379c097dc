"""Architectures the recipes name. Each is a plain float torch model; recipes binarize it afterwards."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["ARCHITECTURES", "build_architecture", "vgg_small"]


def vgg_small(width: int = 128, num_classes: int = 10, input_size: int = 32) -> nn.Sequential:
    """VGG-small (LQ-Nets / BNN papers): six 3x3 convs of width w, w, 2w, 2w, 4w, 4w, three max pools, one FC.

    Written in the float order conv -> BN -> ReLU -> pool; :func:`binarize` turns it into XNOR-Net's order.
    ``input_size`` (square, a multiple of 8) sizes the FC layer.
    """
    if input_size < 8 or input_size % 8:
        raise ValueError(f"vgg_small needs an input size that is a multiple of 8, got {input_size}")
    chans = [width, width, 2 * width, 2 * width, 4 * width, 4 * width]
    layers: list[nn.Module] = []
    cin = 3
    for i, c in enumerate(chans):
        layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=False)]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
        cin = c
    side = input_size // 8
    layers += [nn.Flatten(), nn.Linear(cin * side * side, num_classes)]
    return nn.Sequential(*layers)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"vgg_small": vgg_small}


def build_architecture(name: str, width: int, num_classes: int, input_size: int = 32) -> nn.Module:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name](width=width, num_classes=num_classes, input_size=input_size)
