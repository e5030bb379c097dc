"""Plain numpy reference of every .xnv op, written from docs/xnv-format.md and independent of the runtime.

Binary tensors are unpacked to float ±1 and every op runs in float64, unfolded (batch norm stays a batch
norm, sign stays a sign), so agreement with the runtime checks folding, fusion, packing and the kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def pack(x: np.ndarray) -> np.ndarray:
    """±1 (or any sign) values on the last axis -> uint64 words, bit 1 where x < 0."""
    c = x.shape[-1]
    w = (c + 63) // 64
    bits = np.zeros((*x.shape[:-1], w * 64), np.uint8)
    bits[..., :c] = x < 0
    return np.packbits(bits, axis=-1, bitorder="little").view("<u8").astype(np.uint64)


def unpack(words: np.ndarray, c: int) -> np.ndarray:
    bits = np.unpackbits(words.astype("<u8").view(np.uint8), axis=-1, bitorder="little")[..., :c]
    return 1.0 - 2.0 * bits.astype(np.float64)


def sign(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, 1.0, -1.0)


def conv(x: np.ndarray, w: np.ndarray, stride: int, pad: int, groups: int = 1, pad_value: float = 0.0):
    """Direct convolution, NHWC input, weight [O, kh, kw, C/groups]: a loop over taps, not im2col."""
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    xp = np.full((n, h + 2 * pad, wd + 2 * pad, c), pad_value)
    xp[:, pad:pad + h, pad:pad + wd] = x
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, ho, wo, o))
    og = o // groups
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, dy:dy + stride * ho:stride, dx:dx + stride * wo:stride]
            for g in range(groups):
                wg = w[g * og:(g + 1) * og, dy, dx]
                out[..., g * og:(g + 1) * og] += patch[..., g * cg:(g + 1) * cg] @ wg.T
    return out


def pool(x: np.ndarray, k: int, s: int, p: int, mode: str) -> np.ndarray:
    n, h, w, c = x.shape
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            y0, x0 = i * s - p, j * s - p
            win = x[:, max(y0, 0):y0 + k, max(x0, 0):x0 + k]
            out[:, i, j] = win.max(axis=(1, 2)) if mode == "max" else win.mean(axis=(1, 2))
    return out


def _pad(attrs: dict[str, Any]) -> int:
    k = attrs["kernel"][0] if isinstance(attrs["kernel"], list) else attrs["kernel"]
    return (k - 1) // 2 if attrs.get("padding") == "same" else 0


def run_graph(graph: dict[str, Any], tensors: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """Evaluate the graph on float NHWC ``x``; bits tensors are carried as ±1 floats."""
    env: dict[str, np.ndarray] = {"input": x.astype(np.float64)}
    for node in graph["nodes"]:
        a, name, op = node.get("attrs", {}), node["name"], node["op"]
        xs = [env[i] for i in node["inputs"]]
        p = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == name}
        env[name] = _op(op, a, xs, p)
    return {o: env[o] for o in graph["outputs"]}


def _op(op: str, a: dict[str, Any], xs: list[np.ndarray], p: dict[str, np.ndarray]) -> np.ndarray:  # noqa: C901
    x = xs[0]
    if op == "conv2d":
        y = conv(x, p["weight"].astype(np.float64), a.get("stride", 1), _pad(a), a.get("groups", 1))
        return y + p.get("bias", 0.0)
    if op in ("binary_conv2d", "bwn_conv2d"):
        w = unpack(p["weight"], a["in_channels"])
        acc = conv(x, w, a.get("stride", 1), _pad(a), pad_value=float(a.get("pad_value", 0)))
        y = p["scale"] * acc + p["bias"]
        return sign(y) if a.get("output") == "bits" else y
    if op == "binary_linear":
        return p["scale"] * (x @ unpack(p["weight"], a["in_features"]).T) + p["bias"]
    if op == "linear":
        return x @ p["weight"].T + p.get("bias", 0.0)
    if op == "batch_norm":
        std = np.sqrt(p["running_var"] + a.get("eps", 1e-5))
        return (x - p["running_mean"]) / std * p["weight"] + p["bias"]
    if op in ("maxpool2d", "avgpool2d"):
        k = a["kernel"]
        return pool(x, k, a.get("stride", k), a.get("padding", 0), op[:3])
    table = {
        "sign": lambda: sign(x), "relu": lambda: np.maximum(x, 0), "sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "hardtanh": lambda: np.clip(x, -1, 1), "prelu": lambda: np.where(x >= 0, x, x * p["weight"]),
        "global_avgpool": lambda: x.mean(axis=(1, 2)), "add": lambda: x + xs[1],
        "concat": lambda: np.concatenate(xs, axis=-1), "flatten": lambda: x.reshape(len(x), -1),
        "upsample_nearest": lambda: x.repeat(a["scale"], 1).repeat(a["scale"], 2),
        "softmax": lambda: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    }
    return table[op]()
