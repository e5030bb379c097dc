"""Small graphs that between them use every op, with random parameters (seeded), and a header editor."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from xnorvision.runtime._reference import random_packed, write_reference

Model = tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]
FACES = Path(__file__).parents[2] / "plugins/xnorvision-faces/xnorvision_faces/models"
#: the networks `bench model --profile` is about, by the names tests parametrize on
PROFILED_NETWORKS = ("resnet18", "faces-proposal", "faces-classifier")
SPEC = {"height": 13, "width": 11, "channels": 3, "channel_order": "rgb", "mean": [0.4, 0.5, 0.6],
        "std": [0.2, 0.3, 0.25]}


class Builder:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[dict[str, Any]] = []
        self.tensors: dict[str, np.ndarray] = {}

    def f32(self, *shape: int, lo: float | None = None) -> np.ndarray:
        if lo is not None:
            return self.rng.uniform(lo, lo + 1, shape).astype(np.float32)
        return self.rng.standard_normal(shape).astype(np.float32)

    def add(self, name: str, op: str, inputs: list[str], attrs: dict[str, Any] | None = None,
            **params: np.ndarray) -> str:
        self.nodes.append({"name": name, "op": op, "inputs": inputs, "attrs": attrs or {}})
        self.tensors.update({f"{name}.{k}": v for k, v in params.items()})
        return name

    def bn(self, name: str, x: str, c: int) -> str:
        return self.add(name, "batch_norm", [x], {"eps": 1e-5}, weight=self.f32(c, lo=0.5), bias=self.f32(c),
                        running_mean=self.f32(c), running_var=self.f32(c, lo=0.5))

    def binary(self, name: str, x: str, cin: int, cout: int, k: int = 3, **attrs: Any) -> str:
        attrs = {"kernel": [k, k], "stride": 1, "padding": "same", "in_channels": cin, "out_channels": cout,
                 "output": "float", **attrs}
        return self.add(name, "binary_conv2d", [x], attrs, weight=random_packed(self.rng, (cout, k, k), cin),
                        scale=self.f32(cout, lo=0.05) / k, bias=self.f32(cout))

    def graph(self, *outputs: str) -> dict[str, Any]:
        return {"inputs": ["input"], "outputs": list(outputs), "nodes": self.nodes}


def chain(seed: int = 0) -> Model:
    """Float conv -> binary convs chained on bits (folded BN, fused sign, word-crossing channels) -> head."""
    b = Builder(seed)
    attrs = {"kernel": [3, 3], "stride": 2, "padding": "same", "in_channels": 3, "out_channels": 8}
    x = b.add("conv", "conv2d", ["input"], attrs, weight=b.f32(8, 3, 3, 3), bias=b.f32(8))
    x = b.add("act", "prelu", [b.bn("bn0", x, 8)], weight=b.f32(8, lo=0.0))
    x = b.binary("b1", b.add("s1", "sign", [x]), 8, 70, pad_value=1)
    x = b.binary("b2", b.add("s2", "sign", [b.bn("bn1", x, 70)]), 70, 65, k=1, padding="valid", output="bits")
    x = b.add("mp", "maxpool2d", [x], {"kernel": 3, "stride": 2, "padding": 1})
    x = b.binary("b3", x, 65, 16, stride=2)
    ht = b.add("ht", "hardtanh", [x])
    x = b.add("up", "upsample_nearest", [ht], {"scale": 2})
    x = b.add("gap", "global_avgpool", [b.add("sig", "sigmoid", [x])])
    x = b.add("fc", "linear", [x], {"in_features": 16, "out_features": 5}, weight=b.f32(5, 16), bias=b.f32(5))
    x = b.add("prob", "softmax", [x], {"axis": -1})
    return b.graph(x, "ht"), b.tensors, SPEC


def residual(seed: int = 1) -> Model:
    """Depthwise float conv, BWN conv, residual add, standalone BN, concat, pooling, binary linear."""
    b = Builder(seed)
    x = b.add("dw", "conv2d", ["input"], {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 3,
                                           "out_channels": 6, "groups": 3}, weight=b.f32(6, 3, 3, 1))
    x = b.add("r", "relu", [x])
    y = b.add("bwn", "bwn_conv2d", [x], {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 6,
                                          "out_channels": 8}, weight=random_packed(b.rng, (8, 3, 3), 6),
              scale=b.f32(8, lo=0.1), bias=b.f32(8))
    y = b.bn("bn_y", y, 8)
    z = b.add("pw", "conv2d", [x], {"kernel": [1, 1], "stride": 1, "padding": "valid", "in_channels": 6,
                                     "out_channels": 8})
    b.tensors["pw.weight"] = b.f32(8, 1, 1, 6)
    s = b.bn("bn_s", b.add("sum", "add", [y, z]), 8)
    x = b.add("cat", "concat", [s, y], {"axis": -1})
    x = b.add("ap", "avgpool2d", [x], {"kernel": 3, "stride": 2, "padding": 1})
    x = b.add("flat", "flatten", [x])
    k = 7 * 6 * 16
    x = b.add("bl", "binary_linear", [b.add("s", "sign", [x])], {"in_features": k, "out_features": 4},
              weight=random_packed(b.rng, (4,), k), scale=b.f32(4, lo=0.01), bias=b.f32(4))
    return b.graph(x), b.tensors, SPEC


def tiny(seed: int = 2) -> Model:
    """The smallest model with a binary layer: what the loader fuzz tests mutate."""
    b = Builder(seed)
    x = b.binary("b", b.add("s", "sign", ["input"]), 3, 4, k=1, padding="valid")
    x = b.add("fc", "linear", [b.add("g", "global_avgpool", [x])], {"in_features": 4, "out_features": 2},
              weight=b.f32(2, 4))
    spec = {**SPEC, "height": 2, "width": 2}
    return b.graph(x), b.tensors, spec


def bireal(seed: int = 2) -> Model:
    """A Bi-Real block: ``prelu(bn(binary conv) + shortcut)``, the add fused into the prelu at load time;
    the second block's sum is also a graph output, so it must stay unfused."""
    b = Builder(seed)
    attrs = {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 3, "out_channels": 8}
    x = b.add("conv", "conv2d", ["input"], attrs, weight=b.f32(8, 3, 3, 3), bias=b.f32(8))
    y = b.bn("bn1", b.binary("b1", b.add("s1", "sign", [x]), 8, 8), 8)
    x = b.add("act1", "prelu", [b.add("sum1", "add", [y, x])], weight=b.f32(8))
    y = b.binary("b2", b.add("s2", "sign", [x]), 8, 8)
    x = b.add("act2", "prelu", [b.add("sum2", "add", [x, y])], weight=b.f32(8, lo=0.0))
    return b.graph("act2", "sum2"), b.tensors, SPEC


def stem_pool(seed: int = 3, after_pool: str = "bwn", pool: dict[str, Any] | None = None,
              extra_reader: bool = False, c_in: int = 3, k: int = 3) -> Model:
    """A detector stem: conv 3x3 stride 2 -> BN -> ReLU -> 2x2 max pool (all four one step after folding),
    then ``after_pool``: "bwn" (a BWN conv and a global pool, as in the faces nets), "sign" (a sign and a
    binary conv, as in an XNOR network: the sign fuses too; the pooled floats stay an output, as a Bi-Real
    shortcut reads them), "relu" (a ReLU after the pool: must stay a step of its own) or "pool" (a second
    max pool: likewise). ``extra_reader``: the ReLU's output is also read by a global pool (a second
    output), so the max pool cannot fuse; ``k`` sets the conv's kernel size."""
    b = Builder(seed)
    attrs = {"kernel": [k, k], "stride": 2, "padding": "same", "in_channels": c_in, "out_channels": 16}
    x = b.add("conv", "conv2d", ["input"], attrs, weight=b.f32(16, k, k, c_in))
    r = b.add("relu", "relu", [b.bn("bn", x, 16)])
    x = pooled = b.add("pool", "maxpool2d", [r], pool or {"kernel": 2, "stride": 2, "padding": 0})
    if after_pool == "relu":
        x = b.add("relu2", "relu", [x])
    elif after_pool == "pool":
        x = b.add("pool2", "maxpool2d", [x], {"kernel": 2, "stride": 2, "padding": 0})
    elif after_pool == "sign":
        x = b.binary("bin", b.add("sign", "sign", [x]), 16, 8)
    else:
        bwn = {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 16, "out_channels": 8}
        x = b.add("bwn", "bwn_conv2d", [x], bwn, weight=random_packed(b.rng, (8, 3, 3), 16),
                  scale=b.f32(8, lo=0.1), bias=b.f32(8))
    outputs = [b.add("gap", "global_avgpool", [x]), x]
    if extra_reader:
        outputs.append(b.add("gap_relu", "global_avgpool", [r]))
    if after_pool == "sign":
        outputs.append(pooled)
    return b.graph(*outputs), b.tensors, {**SPEC, "channels": c_in, "channel_order": "rgb" if c_in == 3 else
                                          "gray", "mean": SPEC["mean"][:c_in], "std": SPEC["std"][:c_in]}


def peers(seed: int = 4) -> Model:
    """Every op the peers lower, with binary channels a multiple of 8 (OpenVINO's u1 kernel needs it):
    zero- and one-padded binary convs, a strided one emitting bits into a max pool on bits, a Bi-Real
    shortcut, BWN, concat, upsampling, a binary linear layer, and a bits graph output."""
    b = Builder(seed)
    attrs = {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 3, "out_channels": 16}
    x = b.add("conv", "conv2d", ["input"], attrs, weight=b.f32(16, 3, 3, 3), bias=b.f32(16))
    x = b.add("relu", "relu", [b.bn("bn0", x, 16)])
    y = b.bn("bn1", b.binary("b1", b.add("s1", "sign", [x]), 16, 16, pad_value=0), 16)
    x = b.add("act", "prelu", [b.add("sum", "add", [y, x])], weight=b.f32(16, lo=0.0))
    z = b.binary("b2", b.add("s2", "sign", [x]), 16, 24, stride=2, pad_value=1, output="bits")
    bits = b.add("mp", "maxpool2d", [z], {"kernel": 3, "stride": 1, "padding": 1})
    z = b.binary("b3", bits, 24, 16, k=1, padding="valid")
    w = b.add("ap", "avgpool2d", [x], {"kernel": 3, "stride": 2, "padding": 1})
    w = b.add("bwn", "bwn_conv2d", [w], {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 16,
                                          "out_channels": 8}, weight=random_packed(b.rng, (8, 3, 3), 16),
              scale=b.f32(8, lo=0.1), bias=b.f32(8))
    cat = b.add("ht", "hardtanh", [b.add("cat", "concat", [z, w], {"axis": -1})])
    up = b.add("sig", "sigmoid", [b.add("up", "upsample_nearest", [cat], {"scale": 2})])
    head = b.add("fc", "linear", [b.add("gap", "global_avgpool", [up])],
                 {"in_features": 24, "out_features": 5}, weight=b.f32(5, 24), bias=b.f32(5))
    prob = b.add("prob", "softmax", [head], {"axis": -1})
    k = 7 * 6 * 24
    bl = b.add("bl", "binary_linear", [b.add("s3", "sign", [b.add("flat", "flatten", [cat])])],
               {"in_features": k, "out_features": 4}, weight=random_packed(b.rng, (4,), k),
               scale=b.f32(4, lo=0.01), bias=b.f32(4))
    return b.graph(prob, bl, bits), b.tensors, SPEC


def bireal_blocks(seed: int = 5, pad_value: int = 0, act: bool = True, shortcut_first: bool = False,
                  swap: bool = False) -> Model:
    """Bi-Real blocks ``x = [prelu](bn(binary conv(sign(x))) + shortcut)`` on odd channel counts (37 -> 37
    -> 45 with stride 2 -> 45), as ResNet-18 and the faces nets run them. The downsampling shortcut
    (avg pool + float 1x1 conv + BN) comes after the binary conv in node order, as ResNet-18 writes it,
    or before (``shortcut_first``, as the faces nets do); ``swap`` writes ``add(shortcut, conv)``. The
    last block's sum is a graph output, and a second sign of the first block's result is read by a
    binary conv of its own."""
    b = Builder(seed)
    attrs = {"kernel": [3, 3], "stride": 2, "padding": "same", "in_channels": 3, "out_channels": 37}
    x = b.add("stem", "conv2d", ["input"], attrs, weight=b.f32(37, 3, 3, 3), bias=b.f32(37))
    cin = 37
    for i, (cout, stride) in enumerate([(37, 1), (45, 2), (45, 1)]):
        if stride == 2 and shortcut_first:
            short = _down(b, i, x, cin, cout)
        y = b.bn(f"bn{i}", b.binary(f"b{i}", b.add(f"s{i}", "sign", [x]), cin, cout, stride=stride,
                                    pad_value=pad_value), cout)
        if stride == 2 and not shortcut_first:
            short = _down(b, i, x, cin, cout)
        elif stride == 1:
            short = x
        x = b.add(f"sum{i}", "add", [short, y] if swap else [y, short])
        if act and i < 2:
            x = b.add(f"act{i}", "prelu", [x], weight=b.f32(cout))
        if i == 0:
            side = b.binary("side", b.add("side_sign", "sign", [x]), cout, 11, k=1, padding="valid")
        cin = cout
    spec = {**SPEC, "height": 16, "width": 12}
    return b.graph(b.add("gap", "global_avgpool", [x]), x, side), b.tensors, spec


def shortcut_read_on(seed: int = 6) -> Model:
    """Two Bi-Real blocks (``bn(binary conv(sign(x))) + x`` fused into the conv) whose shortcut is read
    again after them: the first block's by a later add, the second's as a graph output."""
    b = Builder(seed)
    attrs = {"kernel": [3, 3], "stride": 1, "padding": "same", "in_channels": 3, "out_channels": 40}
    x = b.add("stem", "conv2d", ["input"], attrs, weight=b.f32(40, 3, 3, 3), bias=b.f32(40))
    y = b.add("sum0", "add", [b.bn("bn0", b.binary("b0", b.add("s0", "sign", [x]), 40, 40), 40), x])
    z = b.add("sum1", "add", [b.bn("bn1", b.binary("b1", b.add("s1", "sign", [y]), 40, 40), 40), y])
    return b.graph(b.add("again", "add", [z, x]), y), b.tensors, {**SPEC, "height": 9, "width": 7}


def _down(b: Builder, i: int, x: str, cin: int, cout: int) -> str:
    pool = b.add(f"pool{i}", "avgpool2d", [x], {"kernel": 2, "stride": 2, "padding": 0})
    conv = b.add(f"down{i}", "conv2d", [pool], {"kernel": [1, 1], "stride": 1, "padding": "valid",
                                                "in_channels": cin, "out_channels": cout},
                 weight=b.f32(cout, 1, 1, cin))
    return b.bn(f"bn_down{i}", conv, cout)


def profiled_network(name: str, folder: Path) -> tuple[Path, tuple[int, int, int, int]]:
    """One of :data:`PROFILED_NETWORKS` as a file (ResNet-18 written into ``folder``) and the uint8 input
    shape it runs on: 224x224, the faces proposal net's 416x320, the classifier's batch of 24 crops."""
    if name == "resnet18":
        return write_reference("resnet18", folder / "r.xnv"), (1, 224, 224, 3)
    if name == "faces-proposal":
        return FACES / "proposal.xnv", (1, 320, 416, 3)
    return FACES / "classifier.xnv", (24, 32, 32, 3)


def rewrite_header(path: Path, edit: Any) -> bytes:
    """The bytes of the valid model file ``path`` with ``edit`` applied to its parsed JSON header."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    edit(header)
    new = json.dumps(header).encode()
    return struct.pack("<Q", len(new)) + new + raw[8 + n:]
