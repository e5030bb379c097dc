"""Typed Python face of the binary kernels: validates every argument, then calls the compiled code.

Conventions shared by every function here (and by the ``.xnv`` format):

* activations are NHWC, channels last; packed tensors hold ``ceil(C/64)`` uint64 words per pixel,
  bit ``j`` of word ``i`` is channel ``64*i + j``, bit = 1 where the value is negative (-1), and the
  unused high bits of the last word are zero (they never change a result even if they are not);
* packed weights are ``[O, kh, kw, ceil(C/64)]`` with the same bit convention;
* a wrong argument raises :class:`ValueError` naming the problem; nothing here can crash the process.

This first version computes with numpy; the Cython kernels replace the bodies behind the same checks.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

__all__ = [
    "avgpool2d",
    "binary_conv2d",
    "binary_conv2d_fused",
    "bwn_conv2d",
    "cpu_features",
    "get_num_threads",
    "maxpool2d",
    "maxpool2d_bits",
    "pack_bits",
    "set_num_threads",
    "simd_path",
    "unpack_bits",
    "xnor_gemm",
]

BinaryPadding = Literal["valid", "same_zero", "same_one"]
_BINARY_PADDINGS = ("valid", "same_zero", "same_one")
_num_threads = max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------------------- validation
def _array(name: str, a: object, dtypes: tuple[type, ...], ndim: int | None = None) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype.type not in dtypes:
        allowed = " or ".join(np.dtype(t).name for t in dtypes)
        raise ValueError(f"{name} must have dtype {allowed}, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if ndim is None and a.ndim < 1:
        raise ValueError(f"{name} must have at least one dimension")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if 0 in a.shape:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    return a


def _positive_int(name: str, v: object, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise ValueError(f"{name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def _pair(name: str, v: object, minimum: int) -> tuple[int, int]:
    if isinstance(v, tuple | list):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        return _positive_int(name, v[0], minimum), _positive_int(name, v[1], minimum)
    n = _positive_int(name, v, minimum)
    return n, n


def _words(c: int) -> int:
    return (c + 63) // 64


def _affine(name: str, a: object, o: int) -> np.ndarray:
    a = _array(name, a, (np.float32,), 1)
    if a.shape[0] != o:
        raise ValueError(f"{name} must have shape ({o},) (one per output channel), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a


def _conv_geometry(h: int, w: int, kh: int, kw: int, stride: object,
                   same: bool) -> tuple[int, int, int, int, int]:
    """(stride, pad_h, pad_w, Ho, Wo) with PyTorch's ``padding=(k-1)//2`` for "same"."""
    if isinstance(stride, bool) or stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    s = int(stride)  # type: ignore[arg-type]
    ph, pw = ((kh - 1) // 2, (kw - 1) // 2) if same else (0, 0)
    ho, wo = (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"kernel {kh}x{kw} is larger than the (padded) input {h + 2 * ph}x{w + 2 * pw}")
    return s, ph, pw, ho, wo


def _binary_conv_args(x: object, w: object, c_in: object, stride: object, padding: object):
    x = _array("x", x, (np.uint64,), 4)
    w = _array("w", w, (np.uint64,), 4)
    c_in = _positive_int("c_in", c_in)
    wc = _words(c_in)
    if x.shape[3] != wc:
        raise ValueError(f"x must hold ceil(c_in/64) = {wc} words per pixel, got {x.shape[3]}")
    if w.shape[3] != wc:
        raise ValueError(f"w must hold ceil(c_in/64) = {wc} words per tap, got {w.shape[3]}")
    if padding not in _BINARY_PADDINGS:
        raise ValueError(f"padding must be one of {_BINARY_PADDINGS}, got {padding!r}")
    geom = _conv_geometry(x.shape[1], x.shape[2], w.shape[1], w.shape[2], stride, padding != "valid")
    return x, w, c_in, geom


# ---------------------------------------------------------------------------------------- bit packing
def pack_bits(x: np.ndarray) -> np.ndarray:
    """Pack the signs of ``x`` (last axis = channels) into uint64 words: bit = 1 where x < 0."""
    x = _array("x", x, (np.float32, np.int8))
    if x.dtype == np.float32 and np.isnan(x).any():
        raise ValueError("x contains NaN: its sign is undefined")
    c = x.shape[-1]
    neg = x < 0
    pad = _words(c) * 64 - c
    if pad:
        neg = np.concatenate([neg, np.zeros((*x.shape[:-1], pad), bool)], axis=-1)
    return np.ascontiguousarray(np.packbits(neg, axis=-1, bitorder="little").view("<u8").astype(np.uint64))


def unpack_bits(p: np.ndarray, c: int) -> np.ndarray:
    """Inverse of :func:`pack_bits` on signs: float32 ±1 with ``c`` channels (-1 where the bit is set)."""
    p = _array("p", p, (np.uint64,))
    c = _positive_int("c", c)
    if p.shape[-1] != _words(c):
        raise ValueError(f"p must hold ceil(c/64) = {_words(c)} words on its last axis, got {p.shape[-1]}")
    bits = np.unpackbits(p.astype("<u8").view(np.uint8), axis=-1, bitorder="little")[..., :c]
    return (1.0 - 2.0 * bits).astype(np.float32)


# ----------------------------------------------------------------------------------- GEMM and conv
def xnor_gemm(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """±1 dot products of rows of ``a`` [M, W] and ``b`` [N, W] over the first ``k`` bits -> int32 [M, N]."""
    a = _array("a", a, (np.uint64,), 2)
    b = _array("b", b, (np.uint64,), 2)
    k = _positive_int("k", k)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of words, got {a.shape[1]} and {b.shape[1]}")
    if a.shape[1] != _words(k):
        raise ValueError(f"a and b must hold ceil(k/64) = {_words(k)} words per row, got {a.shape[1]}")
    fa, fb = unpack_bits(a, k).astype(np.float64), unpack_bits(b, k).astype(np.float64)
    return (fa @ fb.T).astype(np.int32)


def _im2col(xf: np.ndarray, kh: int, kw: int, s: int, ho: int, wo: int) -> np.ndarray:
    n, _, _, c = xf.shape
    cols = np.empty((n, ho, wo, kh, kw, c), xf.dtype)
    for dy in range(kh):
        for dx in range(kw):
            rows, cols_ = slice(dy, dy + s * (ho - 1) + 1, s), slice(dx, dx + s * (wo - 1) + 1, s)
            cols[:, :, :, dy, dx, :] = xf[:, rows, cols_, :]
    return cols.reshape(n, ho, wo, kh * kw * c)


def _float_conv(xf: np.ndarray, wf: np.ndarray, s: int, ph: int, pw: int, ho: int, wo: int, pad_value: float):
    n, h, w_, c = xf.shape
    xp = np.full((n, h + 2 * ph, w_ + 2 * pw, c), pad_value, xf.dtype)
    xp[:, ph : ph + h, pw : pw + w_, :] = xf
    o, kh, kw, _ = wf.shape
    return _im2col(xp, kh, kw, s, ho, wo) @ wf.reshape(o, -1).T


def binary_conv2d(x: np.ndarray, w: np.ndarray, c_in: int, stride: int = 1,
                  padding: BinaryPadding = "valid") -> np.ndarray:
    """Binary convolution of packed NHWC ``x`` with packed ``w`` -> int32 ±1 dot products [N, Ho, Wo, O].

    ``"same_zero"`` equals zero-padding the ±1 input (padded taps add nothing); ``"same_one"`` pads with +1.
    """
    x, w, c_in, (s, ph, pw, ho, wo) = _binary_conv_args(x, w, c_in, stride, padding)
    xf = unpack_bits(x, c_in).astype(np.float64)
    wf = unpack_bits(w, c_in).astype(np.float64)
    pad_value = 0.0 if padding == "same_zero" else 1.0
    return _float_conv(xf, wf, s, ph, pw, ho, wo, pad_value).astype(np.int32)


def binary_conv2d_fused(x: np.ndarray, w: np.ndarray, c_in: int, scale: np.ndarray, bias: np.ndarray,
                        stride: int = 1, padding: BinaryPadding = "same_zero",
                        output: Literal["float", "bits"] = "float") -> np.ndarray:
    """Binary convolution followed by ``y = scale[o] * acc + bias[o]`` (float32 arithmetic).

    ``output="float"`` returns y as float32 [N, Ho, Wo, O]; ``output="bits"`` returns the packed signs of y
    (bit = 1 iff y < 0) so the next binary layer never sees floats.
    """
    if output not in ("float", "bits"):
        raise ValueError(f"output must be 'float' or 'bits', got {output!r}")
    acc = binary_conv2d(x, w, c_in, stride, padding)
    o = acc.shape[3]
    scale, bias = _affine("scale", scale, o), _affine("bias", bias, o)
    y = scale * acc.astype(np.float32) + bias
    return y if output == "float" else pack_bits(np.where(y < 0, -1, 1).astype(np.int8))


def bwn_conv2d(x: np.ndarray, w: np.ndarray, c_in: int, scale: np.ndarray, bias: np.ndarray,
               stride: int = 1, padding: Literal["valid", "same"] = "valid") -> np.ndarray:
    """Binary-weight convolution of real NHWC ``x``: ``y = scale[o] * conv(x, ±1 weights) + bias[o]``."""
    x = _array("x", x, (np.float32,), 4)
    w = _array("w", w, (np.uint64,), 4)
    c_in = _positive_int("c_in", c_in)
    if x.shape[3] != c_in:
        raise ValueError(f"x must have c_in = {c_in} channels, got {x.shape[3]}")
    if w.shape[3] != _words(c_in):
        raise ValueError(f"w must hold ceil(c_in/64) = {_words(c_in)} words per tap, got {w.shape[3]}")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    same = padding == "same"
    s, ph, pw, ho, wo = _conv_geometry(x.shape[1], x.shape[2], w.shape[1], w.shape[2], stride, same)
    scale, bias = _affine("scale", scale, w.shape[0]), _affine("bias", bias, w.shape[0])
    acc = _float_conv(x, unpack_bits(w, c_in), s, ph, pw, ho, wo, 0.0)
    return (scale * acc + bias).astype(np.float32)


# ------------------------------------------------------------------------------------------- pooling
def _pool_geometry(x: np.ndarray, kernel: object, stride: object, padding: object):
    kh, kw = _pair("kernel", kernel, 1)
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"padding must be at most half the kernel, got {(ph, pw)} for kernel {(kh, kw)}")
    h, w = x.shape[1], x.shape[2]
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"kernel {kh}x{kw} is larger than the (padded) input {h + 2 * ph}x{w + 2 * pw}")
    return kh, kw, sh, sw, ph, pw, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _pool(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int, reduce) -> np.ndarray:
    out = None
    for dy in range(kh):
        for dx in range(kw):
            v = xp[:, dy : dy + sh * (ho - 1) + 1 : sh, dx : dx + sw * (wo - 1) + 1 : sw, :]
            out = v.copy() if out is None else reduce(out, v)
    return np.ascontiguousarray(out)


def maxpool2d_bits(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Max-pool of packed ±1 activations: the max is -1 only where every cell is -1, a bitwise AND."""
    x = _array("x", x, (np.uint64,), 4)
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_geometry(x, kernel, stride, padding)
    n, h, w, c = x.shape
    xp = np.full((n, h + 2 * ph, w + 2 * pw, c), np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64)
    xp[:, ph : ph + h, pw : pw + w] = x
    return _pool(xp, kh, kw, sh, sw, ho, wo, np.bitwise_and)


def maxpool2d(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Float32 NHWC max-pool; padded cells never win."""
    x = _array("x", x, (np.float32,), 4)
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_geometry(x, kernel, stride, padding)
    n, h, w, c = x.shape
    xp = np.full((n, h + 2 * ph, w + 2 * pw, c), -np.inf, np.float32)
    xp[:, ph : ph + h, pw : pw + w] = x
    return _pool(xp, kh, kw, sh, sw, ho, wo, np.maximum)


def avgpool2d(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Float32 NHWC average-pool; the average is over real cells only (padding is not counted)."""
    x = _array("x", x, (np.float32,), 4)
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_geometry(x, kernel, stride, padding)
    n, h, w, c = x.shape
    xp = np.zeros((n, h + 2 * ph, w + 2 * pw, c), np.float32)
    xp[:, ph : ph + h, pw : pw + w] = x
    ones = np.zeros((1, h + 2 * ph, w + 2 * pw, 1), np.float32)
    ones[:, ph : ph + h, pw : pw + w] = 1
    total = _pool(xp, kh, kw, sh, sw, ho, wo, np.add)
    count = _pool(ones, kh, kw, sh, sw, ho, wo, np.add)
    return (total / count).astype(np.float32)


# --------------------------------------------------------------------------------- threads and CPU
def set_num_threads(n: int) -> None:
    """Threads used by every kernel call (one parallel region per call)."""
    global _num_threads
    _num_threads = _positive_int("n", n)


def get_num_threads() -> int:
    """Threads the kernels use."""
    return _num_threads


def cpu_features() -> dict[str, bool]:
    """SIMD features of this CPU that the kernels can use."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
            "avx512_vpopcntdq": "avx512_vpopcntdq" in flags, "neon": "asimd" in flags}


def simd_path() -> str:
    """The popcount path the kernels use on this CPU."""
    return "numpy"
