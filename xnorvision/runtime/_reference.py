"""Reference networks with random weights: fixtures for tests and for ``bench model``.

``resnet18`` is an XNOR ResNet-18 in the Bi-Real style (every binary conv has its own real-valued
shortcut, downsampling shortcuts are avg-pool + float 1x1 conv) with a float first and last layer, at
224x224. ``vgg-small`` is the XNOR VGG-Small of the CIFAR-10 literature at 32x32, with its binary convs
chained on packed bits. Both keep explicit ``batch_norm`` and ``sign`` nodes, as an exporter writes them,
so loading them exercises the load-time folding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from xnorvision.errors import XnorvisionError
from xnorvision.runtime._format import save_model
from xnorvision.runtime._schema import words

IMAGENET = {"channel_order": "rgb", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def random_packed(rng: np.random.Generator, shape: tuple[int, ...], channels: int) -> np.ndarray:
    """Random ±1 weights packed as uint64 words over ``channels`` (last axis), padding bits clear."""
    w = rng.integers(0, np.iinfo(np.uint64).max, (*shape, words(channels)), dtype=np.uint64, endpoint=True)
    if channels % 64:
        w[..., -1] &= np.uint64((1 << (channels % 64)) - 1)
    return w


class _Graph:
    """Appends nodes and their random parameters; names are the op plus a counter."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[dict[str, Any]] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.count: dict[str, int] = {}

    def add(self, op: str, inputs: list[str], attrs: dict[str, Any] | None = None, name: str = "",
            **params: np.ndarray) -> str:
        self.count[op] = self.count.get(op, 0) + 1
        name = name or f"{op}{self.count[op]}"
        self.nodes.append({"name": name, "op": op, "inputs": inputs, "attrs": attrs or {}})
        self.tensors.update({f"{name}.{k}": v for k, v in params.items()})
        return name

    def f32(self, *shape: int, std: float = 1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1) -> str:
        attrs = {"kernel": [k, k], "stride": stride, "padding": "same", "in_channels": cin,
                 "out_channels": cout, "groups": 1}
        std = (2 / (k * k * cin)) ** 0.5
        return self.add("conv2d", [x], attrs, weight=self.f32(cout, k, k, cin, std=std))

    def binary_conv(self, x: str, cin: int, cout: int, stride: int = 1) -> str:
        attrs = {"kernel": [3, 3], "stride": stride, "padding": "same", "pad_value": 0, "in_channels": cin,
                 "out_channels": cout, "output": "float"}
        scale = np.full(cout, 1 / (9 * cin) ** 0.5, np.float32)
        return self.add("binary_conv2d", [x], attrs, weight=random_packed(self.rng, (cout, 3, 3), cin),
                        scale=scale, bias=np.zeros(cout, np.float32))

    def bn(self, x: str, c: int) -> str:
        rng = self.rng
        return self.add("batch_norm", [x], {"eps": 1e-5},
                        weight=rng.uniform(0.5, 1.5, c).astype(np.float32), bias=self.f32(c, std=0.1),
                        running_mean=self.f32(c, std=0.1),
                        running_var=rng.uniform(0.5, 1.5, c).astype(np.float32))

    def graph(self, output: str) -> dict[str, Any]:
        return {"inputs": ["input"], "outputs": [output], "nodes": self.nodes}


Network = tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]  # graph, tensors, input spec


def resnet18(seed: int = 0, classes: int = 1000) -> Network:
    """XNOR ResNet-18, Bi-Real style, 224x224: returns (graph, tensors, input spec)."""
    g = _Graph(seed)
    x = g.add("relu", [g.bn(g.conv("input", 3, 64, 7, 2), 64)])
    x = g.add("maxpool2d", [x], {"kernel": 3, "stride": 2, "padding": 1})
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for conv in range(4):  # two basic blocks of two convs, each conv with its own shortcut
            stride = 2 if stage > 0 and conv == 0 else 1
            y = g.bn(g.binary_conv(g.add("sign", [x]), cin, cout, stride), cout)
            if stride == 2:
                short = g.add("avgpool2d", [x], {"kernel": 2, "stride": 2, "padding": 0})
                x = g.bn(g.conv(short, cin, cout, 1), cout)
            x = g.add("add", [y, x])
            cin = cout
    x = g.add("global_avgpool", [x])
    x = g.add("linear", [x], {"in_features": 512, "out_features": classes}, name="logits",
              weight=g.f32(classes, 512, std=512 ** -0.5), bias=np.zeros(classes, np.float32))
    return g.graph(x), g.tensors, {"height": 224, "width": 224, "channels": 3, **IMAGENET}


def vgg_small(seed: int = 0) -> Network:
    """XNOR VGG-Small for CIFAR-10 at 32x32: returns (graph, tensors, input spec)."""
    g = _Graph(seed)
    x = g.add("sign", [g.bn(g.conv("input", 3, 128, 3), 128)])
    widths, cin = (128, 256, 256, 512, 512), 128
    for i, cout in enumerate(widths):
        y = g.bn(g.binary_conv(x, cin, cout), cout)
        last = i == len(widths) - 1
        if last:  # the float classifier reads real values
            x = g.add("maxpool2d", [y], {"kernel": 2, "stride": 2})
        else:
            x = g.add("sign", [y])
            if i in (0, 2):
                x = g.add("maxpool2d", [x], {"kernel": 2, "stride": 2})
        cin = cout
    x = g.add("flatten", [x])
    x = g.add("linear", [x], {"in_features": 4 * 4 * 512, "out_features": 10}, name="logits",
              weight=g.f32(10, 4 * 4 * 512, std=(4 * 4 * 512) ** -0.5), bias=np.zeros(10, np.float32))
    spec = {"height": 32, "width": 32, "channels": 3, "channel_order": "rgb",
            "mean": [0.491, 0.482, 0.447], "std": [0.247, 0.243, 0.262]}
    return g.graph(x), g.tensors, spec


REFERENCES = {"resnet18": resnet18, "vgg-small": vgg_small}


def write_reference(name: str, path: str | os.PathLike[str], seed: int = 0,
                    float_storage: str = "float32") -> Path:
    """Write the reference network ``name`` with random weights (seeded) to ``path``."""
    if name not in REFERENCES:
        raise XnorvisionError(f"unknown reference network {name!r}; choose from {', '.join(REFERENCES)}")
    graph, tensors, spec = REFERENCES[name](seed)
    labels = CIFAR10 if name == "vgg-small" else []
    meta = {"reference": name, "weights": f"random (seed {seed})", "note": "a fixture: not trained"}
    return save_model(path, graph, tensors, spec, labels, meta, float_storage)
