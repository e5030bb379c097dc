"""Plain-numpy references the compiled kernels must match (bit-exact for the binary ones).

Written for clarity, not speed: unpack to ±1 floats, pad explicitly, convolve through im2col in float64.
"""

from __future__ import annotations

import numpy as np


def pack_bits(x: np.ndarray) -> np.ndarray:
    """Signs of x (last axis) -> uint64 words, bit j of word i = channel 64*i + j, 1 where x < 0."""
    c = x.shape[-1]
    neg = x < 0
    pad = -c % 64
    if pad:
        neg = np.concatenate([neg, np.zeros((*x.shape[:-1], pad), bool)], axis=-1)
    return np.packbits(neg, axis=-1, bitorder="little").view("<u8").astype(np.uint64)


def unpack_bits(p: np.ndarray, c: int) -> np.ndarray:
    bits = np.unpackbits(p.astype("<u8").view(np.uint8), axis=-1, bitorder="little")[..., :c]
    return (1.0 - 2.0 * bits).astype(np.float32)


def xnor_gemm(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    fa, fb = unpack_bits(a, k).astype(np.float64), unpack_bits(b, k).astype(np.float64)
    return (fa @ fb.T).astype(np.int32)


def same_pad(k: int) -> int:
    return (k - 1) // 2


def conv_float(x: np.ndarray, w: np.ndarray, stride: int, ph: int, pw: int, pad_value: float) -> np.ndarray:
    """Direct float64 convolution of NHWC x with OHWI w, padding with ``pad_value``."""
    n, h, wd, c = x.shape
    o, kh, kw, _ = w.shape
    xp = np.full((n, h + 2 * ph, wd + 2 * pw, c), pad_value, np.float64)
    xp[:, ph : ph + h, pw : pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // stride + 1, (wd + 2 * pw - kw) // stride + 1
    out = np.zeros((n, ho, wo, o), np.float64)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, dy : dy + stride * (ho - 1) + 1 : stride, dx : dx + stride * (wo - 1) + 1 : stride]
            out += patch @ w[:, dy, dx, :].astype(np.float64).T
    return out


def bwn_conv2d(x: np.ndarray, w: np.ndarray, c_in: int, scale: np.ndarray, bias: np.ndarray, stride: int,
               ph: int, pw: int, slope: np.ndarray | None = None) -> np.ndarray:
    """The BWN table kernel's sums in float32, in its order (``xnv_bwn.h``): groups of 4 taps (4 channels at
    one kernel position, zeros past c_in) in (dy, dx, c) order, each (s0 x0 + s1 x1) + (s2 x2 + s3 x3) with
    the signed pairs formed as ±(x0 + x1) or ±(x0 - x1); then ``* scale + bias`` and PReLU ``slope``."""
    n, h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    quads = -(-c_in // 4)
    xp = np.zeros((n, h + 2 * ph, wd + 2 * pw, 4 * quads), np.float32)
    xp[:, ph : ph + h, pw : pw + wd, :c_in] = x
    neg = np.zeros((o, kh, kw, 4 * quads), bool)
    neg[..., :c_in] = unpack_bits(w, c_in) < 0
    ho, wo = (h + 2 * ph - kh) // stride + 1, (wd + 2 * pw - kw) // stride + 1

    def pair(a: np.ndarray, b: np.ndarray, neg_a: np.ndarray, neg_b: np.ndarray) -> np.ndarray:
        # [n, ho, wo, o]: a + b, b - a = -(a - b), a - b, -(a + b) as the channel's signs ask
        s, d = a + b, a - b
        return np.where(neg_a, np.where(neg_b, -s, -d), np.where(neg_b, d, s))

    acc = None
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, dy : dy + stride * (ho - 1) + 1 : stride, dx : dx + stride * (wo - 1) + 1 : stride]
            for q in range(quads):
                t = [patch[..., 4 * q + k, None] for k in range(4)]
                sg = [neg[:, dy, dx, 4 * q + k] for k in range(4)]
                group = pair(t[0], t[1], sg[0], sg[1]) + pair(t[2], t[3], sg[2], sg[3])
                acc = group if acc is None else acc + group
    y = acc * scale.astype(np.float32)
    y = y + bias.astype(np.float32)
    if slope is not None:
        y = np.where(y < 0, y * slope.astype(np.float32), y)
    return y.astype(np.float32)


def binary_conv2d(x: np.ndarray, w: np.ndarray, c_in: int, stride: int, padding: str) -> np.ndarray:
    o, kh, kw, _ = w.shape
    ph, pw = (same_pad(kh), same_pad(kw)) if padding != "valid" else (0, 0)
    pad_value = 0.0 if padding == "same_zero" else 1.0
    return conv_float(unpack_bits(x, c_in), unpack_bits(w, c_in), stride, ph, pw, pad_value).astype(np.int32)


def affine(acc: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The fused layers' contract: float32 ``scale * acc + bias`` (two roundings)."""
    return scale * acc.astype(np.float32) + bias


def pool(x: np.ndarray, kernel: int, stride: int, padding: int, op: str) -> np.ndarray:
    """Window reduction over real cells only ("and" on packed words, "max", "mean" on floats)."""
    n, h, w, c = x.shape
    ho, wo = (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1
    out = np.empty((n, ho, wo, c), x.dtype)
    for oy in range(ho):
        for ox in range(wo):
            y0, x0 = oy * stride - padding, ox * stride - padding
            win = x[:, max(y0, 0) : y0 + kernel, max(x0, 0) : x0 + kernel].reshape(n, -1, c)
            if op == "and":
                out[:, oy, ox] = np.bitwise_and.reduce(win, axis=1)
            elif op == "max":
                out[:, oy, ox] = win.max(axis=1)
            else:
                out[:, oy, ox] = win.astype(np.float64).mean(axis=1)
    return out
