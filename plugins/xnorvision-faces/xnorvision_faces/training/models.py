"""The two face networks: a fully-convolutional proposal net (three FCOS-style heads) and a crop classifier.

Both keep the first layer, the heads and the shortcuts real-valued (Bi-Real style) and binarize the body.
The 3x3 layer right after the stem is BWN (binary weights, real inputs): its input has only 16 channels, and
binarizing 16-channel activations throws away most of the stem's information for little speed. Every layer
after it is XNOR (binary weights and inputs). ``mode="float"`` builds the float twin used as an ablation.
"""

from __future__ import annotations

import torch
from torch import nn

from xnorvision.train import BinaryConv2d

#: Proposal levels: (stride, smallest face, largest face) in input pixels; ranges overlap on purpose.
LEVELS: tuple[tuple[int, float, float], ...] = ((8, 5.0, 36.0), (16, 24.0, 90.0), (32, 64.0, 1e9))
HEAD_CHANNELS = 5  # face logit, centre offset dx, dy and log width, log height (all in strides)


def conv3x3(cin: int, cout: int, stride: int, mode: str) -> nn.Module:
    if mode == "float":
        return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    return BinaryConv2d(cin, cout, 3, stride, 1, mode=mode, estimator="bireal", pad_value=1)


class BiRealBlock(nn.Module):
    """``x -> sign -> 3x3 XNOR conv -> BN -> + shortcut(x) -> PReLU``; the shortcut stays real-valued.

    A stride-2 block average-pools the shortcut; one that also doubles the channels concatenates the
    average- and the max-pooled input (no weights, and two views rather than one copied).
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, mode: str = "xnor") -> None:
        super().__init__()
        if (stride, cout) not in ((1, cin), (2, cin), (2, 2 * cin)):
            raise ValueError("a block keeps its channels, or doubles them at stride 2")
        self.conv = conv3x3(cin, cout, stride, mode)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = nn.AvgPool2d(2) if stride == 2 else nn.Identity()
        self.maxpool = nn.MaxPool2d(2) if cout == 2 * cin else None
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = self.pool(x)
        if self.maxpool is not None:
            short = torch.cat([short, self.maxpool(x)], dim=1)
        return self.act(self.bn(self.conv(x)) + short)


#: Binary blocks at strides 8, 16 and 32 (the shipped net's; ``--blocks`` trains deeper ones).
BLOCKS = (2, 2, 1)


class ProposalNet(nn.Module):
    """Scores every cell of strides 8, 16 and 32 for "a face centred near here" and regresses its box.

    ``blocks``: binary blocks per stride (the first of the stride-16 and stride-32 stages halves the
    resolution). Binary channels are cheap, so depth is a lever a float detector of the same time lacks.
    """

    def __init__(self, mode: str = "xnor", width: int = 64, blocks: tuple[int, int, int] = BLOCKS) -> None:
        super().__init__()
        if len(blocks) != 3 or min(blocks) < 1:
            raise ValueError(f"blocks must be three counts of at least 1 (strides 8, 16, 32), got {blocks}")
        w = width
        bwn = "float" if mode == "float" else "bwn"
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(2), conv3x3(16, w, 2, bwn), nn.BatchNorm2d(w), nn.PReLU(w))
        b8, b16, b32 = blocks
        self.s8 = nn.Sequential(*[BiRealBlock(w, w, 1, mode) for _ in range(b8)])
        self.s16 = nn.Sequential(BiRealBlock(w, 2 * w, 2, mode),
                                 *[BiRealBlock(2 * w, 2 * w, 1, mode) for _ in range(b16 - 1)])
        self.s32 = nn.Sequential(BiRealBlock(2 * w, 2 * w, 2, mode),
                                 *[BiRealBlock(2 * w, 2 * w, 1, mode) for _ in range(b32 - 1)])
        self.heads = nn.ModuleList([nn.Conv2d(c, HEAD_CHANNELS, 1) for c in (w, 2 * w, 2 * w)])
        for head in self.heads:
            nn.init.constant_(head.bias[:1], -4.0)  # start from "no face" (focal-loss prior)

    @classmethod
    def from_recipe(cls, recipe: dict) -> ProposalNet:
        """The net a training recipe (its ``.json``) describes; recipes before ``blocks`` mean the default."""
        return cls(recipe.get("mode", "xnor"), recipe.get("width", 64), tuple(recipe.get("blocks", BLOCKS)))

    def grow_from(self, state: dict[str, torch.Tensor]) -> None:
        """Load a net with fewer blocks per stride; each block it lacks starts as an identity.

        A Bi-Real block with a zero batch-norm scale and shift adds nothing to its shortcut, and a PReLU
        of slope 1 passes it on, so the grown net starts as exactly the trained shallow one and only has
        to learn what its extra depth adds (net2net-style, rather than a from-scratch run of many hours).
        """
        missing, unexpected = self.load_state_dict(state, strict=False)
        grown = [name for name, block in self.named_modules()
                 if isinstance(block, BiRealBlock) and f"{name}.bn.weight" in missing]
        left = [key for key in missing if not any(key.startswith(f"{name}.") for name in grown)]
        if unexpected or left:
            raise ValueError(f"not a shallower proposal net: {(unexpected + left)[:3]}")
        for name in grown:
            block = self.get_submodule(name)
            nn.init.zeros_(block.bn.weight)
            nn.init.zeros_(block.bn.bias)
            nn.init.ones_(block.act.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f8 = self.s8(self.stem(x))
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        return self.heads[0](f8), self.heads[1](f16), self.heads[2](f32)


CROP = 32  # classifier input side
CROP_CONTEXT = 1.3  # a proposal's crop is a square this many times its long side, centred on it


class FaceClassifier(nn.Module):
    """Accepts or rejects a 32x32 grey proposal crop and refines its box (x1, y1, x2, y2 in crop sides).

    Grey, because the Caltech face crops it learns from are grey. ``pool_first`` max-pools the stem's
    16x16 output before the BWN layer, so every binary layer runs at 8x8 or less: a quarter of the work
    of the BWN layer, the layer that dominates this net's time.
    """

    def __init__(self, mode: str = "xnor", width: int = 32, pool_first: bool = False) -> None:
        super().__init__()
        w = width
        bwn = "float" if mode == "float" else "bwn"
        stem = [nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]       # 16x16
        middle = [conv3x3(16, w, 1, bwn), nn.BatchNorm2d(w), nn.PReLU(w)]
        if pool_first:
            middle = [nn.MaxPool2d(2), *middle]                                                # 8x8
        else:
            middle = [*middle, nn.MaxPool2d(2)]                                                # 8x8
        self.body = nn.Sequential(
            *stem, *middle,
            BiRealBlock(w, w, 1, mode), BiRealBlock(w, 2 * w, 2, mode),                       # 4x4
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
