"""Typed Python face of the binary kernels: validates every argument, then calls the compiled code.

Conventions shared by every function here (and by the ``.xnv`` format):

* activations are NHWC, channels last; packed tensors hold ``ceil(C/64)`` uint64 words per pixel,
  bit ``j`` of word ``i`` is channel ``64*i + j``, bit = 1 where the value is negative (-1), and the
  unused high bits of the last word are zero (they never change a result even if they are not);
* packed weights are ``[O, kh, kw, ceil(C/64)]`` with the same bit convention;
* a wrong argument raises :class:`ValueError` naming the problem; nothing here can crash the process.

The compiled kernels (``cython_kernels/`` -> ``xnorvision._bconv`` etc.) trust their arguments: every
check happens here. The popcount path (AVX-512 VPOPCNTDQ, AVX2, NEON, portable) is chosen at run time, and
the float kernels' path (direct, BWN and dense convs) with it: the same path, except AVX2 on CPUs that run
512-bit vectors as two halves (:func:`float_path`). ``XNORVISION_SIMD=<path>`` or :func:`_force_path`
overrides both (tests use that to cover every path), ``XNORVISION_FLOAT_SIMD=<path>`` the float kernels'.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal, NamedTuple

import numpy as np

# (How long waiting OpenMP threads spin, GOMP_SPINCOUNT, is a process-wide choice: the CLI makes it, see
# xnorvision.cli.process_settings; importing this module changes no environment variable.)
from xnorvision import _area, _bconv, _bitpack, _bwn, _eltwise, _fconv, _pool

__all__ = [
    "BinaryConvPlan",
    "Bound",
    "BinaryConvWeights",
    "BwnConvPlan",
    "DensePlan",
    "DirectConvPlan",
    "aligned_empty",
    "area_shrink",
    "avgpool2d",
    "binary_conv2d",
    "binary_conv2d_fused",
    "bwn_conv2d",
    "conv2d_small",
    "cpu_features",
    "eager_threads",
    "float_path",
    "get_num_threads",
    "join_bind",
    "maxpool2d",
    "maxpool2d_bits",
    "pack_bits",
    "pool_bind",
    "pools_side_by_side",
    "prelu",
    "set_eager_threads",
    "set_num_threads",
    "simd_path",
    "unpack_bits",
    "using_threads",
    "xnor_gemm",
]

BinaryPadding = Literal["valid", "same_zero", "same_one"]
_BINARY_PADDINGS = ("valid", "same_zero", "same_one")
_num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_PATHS = {"portable": 0, "avx2": 1, "avx512": 2, "neon": 3}
_NO_AFFINE = np.zeros(0, np.float32)
_Result = np.ndarray | tuple[np.ndarray, np.ndarray]  # a conv's float result, or it and its packed signs

# How large a call must be to go parallel, in each kernel's own units of work. The "cautious" sizes below
# (0.3-1 ms of work on one core) keep small calls on the calling thread: when the other cores are busy or
# asleep, each parallel region waits for a thread (a 13 us bit-pack once took 105 us on two threads, and
# with another process on the second core the faces pipeline ran 5x slower with eager thresholds). The
# "eager" policy divides them by _EAGER_DIVISOR (calls from ~40 us), 17% faster for the faces pipeline on
# an idle 2-core machine; the runtime picks the policy by measuring both (runtime/_governor.py).
_PARALLEL_VALUES = 1 << 21  # elementwise kernels (pack, pool, im2col): values touched, ~1 ms of traffic
# binary conv: output values x taps x words, ~0.7 ms on one core with AVX-512's popcount; AVX2's table
# lookups count about half as many bits a second (ceilings of 530 and 1396 G binary MAC/s on the two VMs),
# so there the same time is _AVX2_WORD_COST times fewer words (_parallel_word_ops)
_PARALLEL_WORD_OPS = 1 << 23
_AVX2_WORD_COST = 2
# direct float conv: multiply-adds (whole blocks of 16 output channels), ~0.3 ms on one core (AVX2 runs 40-60
# GMAC/s here, AVX-512 50-75, the portable SSE2/NEON code about 18)
_PARALLEL_FLOAT_MACS = 1 << 24
_PARALLEL_FLOAT_MACS_PORTABLE = 1 << 22
# a dense layer's rows are counted as at least this many: a layer of few rows streams every weight from
# memory for each one (ResNet-18's 512 -> 1000 classifier: 0.5M multiply-adds, ~0.1 ms on one core)
_DENSE_MIN_ROWS = 8
_EAGER_DIVISOR = 20
_eager = False
_local = threading.local()  # .settings: (threads, eager) of the calling thread inside using_threads


def _parallel_word_ops() -> int:
    """The binary conv's _PARALLEL_WORD_OPS on the popcount path that runs now."""
    return _PARALLEL_WORD_OPS // _AVX2_WORD_COST if _path == _PATHS["avx2"] else _PARALLEL_WORD_OPS


def _threads_for(work: int, parallel_from: int) -> int:
    """All threads for a call of at least ``parallel_from`` units of work (fewer when eager), else one."""
    threads, eager = getattr(_local, "settings", None) or (_num_threads, _eager)
    return threads if work * (_EAGER_DIVISOR if eager else 1) >= parallel_from else 1


class Bound(NamedTuple):
    """A kernel call bound to its arrays (a model's planned tensors, see ``runtime._native``): ``call.run()``
    repeats it on what they hold now, and a native program runs ``call.entry()`` on ``threads[eager]``
    threads, the counts the call's work gets under the cautious and the eager policy."""

    call: Any
    threads: tuple[int, int]


def _policy_threads(work: int, parallel_from: int) -> tuple[int, int]:
    """What :func:`_threads_for` gives ``work`` under the cautious policy, then under the eager one."""
    threads = (getattr(_local, "settings", None) or (_num_threads, _eager))[0]
    return (threads if work >= parallel_from else 1,
            threads if work * _EAGER_DIVISOR >= parallel_from else 1)


def _bound_array(name: str, a: object, shape: tuple[int, ...], dtype: type) -> None:
    """An array a bound call reads: exactly ``shape`` and ``dtype``, C-contiguous (the kernels trust it from
    then on, every run)."""
    if (type(a) is not np.ndarray or a.dtype.type is not dtype or a.shape != shape
            or not a.flags.c_contiguous):
        raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype).name} array of shape {shape}")


def _bound_out(name: str, a: object, shape: tuple[int, ...], dtype: type, *inputs: np.ndarray | None) -> None:
    """An array a bound call writes: as :func:`_bound_array`, and writeable, apart from its inputs."""
    _bound_array(name, a, shape, dtype)
    if not a.flags.writeable or any(i is not None and np.may_share_memory(a, i) for i in inputs):  # type: ignore[attr-defined]
        raise ValueError(f"{name} must be writeable and apart from the inputs")


def _same_array(a: object, b: np.ndarray) -> bool:
    """Whether ``a`` is an array over exactly ``b``'s elements: same memory, dtype, shape and strides."""
    return (isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


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


def _affine(name: str, a: object, o: int, finite: bool = True) -> np.ndarray:
    """A per-output-channel float32 vector; ``finite=False`` leaves that check to the compiled kernel."""
    a = _array(name, a, (np.float32,), 1)
    if a.shape[0] != o:
        raise ValueError(f"{name} must have shape ({o},) (one per output channel), got {a.shape}")
    if finite and not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a


def _conv_geometry(h: int, w: int, kh: int, kw: int, stride: object,
                   same: bool) -> tuple[int, int, int, int, int]:
    """(stride, pad_h, pad_w, Ho, Wo) with PyTorch's ``padding=(k-1)//2`` for "same"."""
    s = _stride(stride)
    ph, pw = ((kh - 1) // 2, (kw - 1) // 2) if same else (0, 0)
    ho, wo = (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"kernel {kh}x{kw} is larger than the (padded) input {h + 2 * ph}x{w + 2 * pw}")
    return s, ph, pw, ho, wo


def _stride(stride: object) -> int:
    if isinstance(stride, bool) or stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    return int(stride)  # type: ignore[call-overload]


def _binary_conv_args(x: object, w: object, c_in: object, stride: object, padding: object):
    prepared = None
    if isinstance(w, BinaryConvWeights):
        if c_in != w.c_in:
            raise ValueError(f"c_in = {c_in} but the prepared weights were made for c_in = {w.c_in}")
        w, prepared = w.packed, w._prepared
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
    if w.shape[1] * w.shape[2] * c_in >= 2**30:
        raise ValueError(f"kernel {w.shape[1]}x{w.shape[2]} x {c_in} channels is too large for int32 sums")
    geom = _conv_geometry(x.shape[1], x.shape[2], w.shape[1], w.shape[2], stride, padding != "valid")
    return x, w, c_in, geom, prepared


def _conv_threads(x: np.ndarray, w: np.ndarray, ho: int, wo: int) -> int:
    o, kh, kw, wc = w.shape
    return _threads_for(x.shape[0] * ho * wo * o * kh * kw * wc, _parallel_word_ops())


class BinaryConvWeights:
    """Packed conv weights [O, kh, kw, ceil(c_in/64)] interleaved for the microkernel once (at model load).

    Pass one to :func:`binary_conv2d` / :func:`binary_conv2d_fused` in place of the packed array: the
    kernels then skip re-interleaving the weights on every call (a quarter of a 7x7x512 layer's time).
    The array is copied, so later changes to it are not seen.
    """

    def __init__(self, w: np.ndarray, c_in: int) -> None:
        w = _array("w", w, (np.uint64,), 4)
        self.c_in = _positive_int("c_in", c_in)
        if w.shape[3] != _words(self.c_in):
            raise ValueError(f"w must hold ceil(c_in/64) = {_words(self.c_in)} words per tap, "
                             f"got {w.shape[3]}")
        self.packed = w.copy()
        self.packed.flags.writeable = False
        blocks, sums = _bconv.prepare(self.packed, self.c_in, _path)
        self._prepared = (_aligned_copy(blocks), sums)  # each block on whole cache lines

    @property
    def shape(self) -> tuple[int, ...]:
        return self.packed.shape


# ---------------------------------------------------------------------------------------- bit packing
def pack_bits(x: np.ndarray) -> np.ndarray:
    """Pack the signs of ``x`` (last axis = channels) into uint64 words: bit = 1 where x < 0."""
    x = _array("x", x, (np.float32, np.int8))
    return _bitpack.pack(x, _path, _threads_for(x.size, _PARALLEL_VALUES))


def unpack_bits(p: np.ndarray, c: int) -> np.ndarray:
    """Inverse of :func:`pack_bits` on signs: float32 ±1 with ``c`` channels (-1 where the bit is set)."""
    p = _array("p", p, (np.uint64,))
    c = _positive_int("c", c)
    if p.shape[-1] != _words(c):
        raise ValueError(f"p must hold ceil(c/64) = {_words(c)} words on its last axis, got {p.shape[-1]}")
    return _bitpack.unpack(p, c, _threads_for(p.size // p.shape[-1] * c, _PARALLEL_VALUES))


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
    if k >= 2**30:
        raise ValueError(f"k = {k} is too large for int32 sums")
    m, n, wc = a.shape[0], b.shape[0], a.shape[1]
    out = _bconv.conv(a.reshape(1, 1, m, wc), b.reshape(n, 1, 1, wc), k, 1, 0, 0, False, 1, m, 0,
                      _NO_AFFINE, _NO_AFFINE, _path, _threads_for(m * n * wc, _parallel_word_ops()))
    return out.reshape(m, n)


def binary_conv2d(x: np.ndarray, w: np.ndarray | BinaryConvWeights, c_in: int, stride: int = 1,
                  padding: BinaryPadding = "valid") -> np.ndarray:
    """Binary convolution of packed NHWC ``x`` with packed ``w`` -> int32 ±1 dot products [N, Ho, Wo, O].

    ``"same_zero"`` equals zero-padding the ±1 input (padded taps add nothing); ``"same_one"`` pads with +1.
    """
    x, w, c_in, (s, ph, pw, ho, wo), prepared = _binary_conv_args(x, w, c_in, stride, padding)
    return _bconv.conv(x, w, c_in, s, ph, pw, padding == "same_zero", ho, wo, 0, _NO_AFFINE, _NO_AFFINE,
                       _path, _conv_threads(x, w, ho, wo), prepared)


def binary_conv2d_fused(x: np.ndarray, w: np.ndarray | BinaryConvWeights, c_in: int, scale: np.ndarray,
                        bias: np.ndarray, stride: int = 1, padding: BinaryPadding = "same_zero",
                        output: Literal["float", "bits", "both"] = "float",
                        residual: np.ndarray | None = None,
                        slope: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Binary convolution followed by ``y = scale[o] * acc + bias[o]`` (float32 arithmetic).

    ``output="float"`` returns y as float32 [N, Ho, Wo, O]; ``output="bits"`` returns the packed signs of y
    (bit = 1 iff y < 0) so the next binary layer never sees floats.

    The step between two Bi-Real binary convs goes into the same pass over the accumulators: ``residual``
    (float32 [N, Ho, Wo, O]) is added to y, then ``prelu`` with ``slope`` [O] applied, each rounded as
    ``y + residual`` and :func:`prelu` round it; ``output="both"`` returns ``(y, pack_bits(y))`` (a
    ValueError if y holds NaN, as :func:`pack_bits` raises). The integer threshold of ``"bits"`` cannot
    see a residual or a slope: those take ``"float"`` or ``"both"``.
    """
    _fused_output(output, residual is not None or slope is not None)
    x, w, c_in, (s, ph, pw, ho, wo), prepared = _binary_conv_args(x, w, c_in, stride, padding)
    o = w.shape[0]
    scale, bias = _affine("scale", scale, o, False), _affine("bias", bias, o, False)
    _check_residual(residual, (x.shape[0], ho, wo, o))
    if slope is not None:
        slope = _affine("slope", slope, o)
    return _bconv.conv(x, w, c_in, s, ph, pw, padding == "same_zero", ho, wo, 2 if output == "bits" else 1,
                       scale, bias, _path, _conv_threads(x, w, ho, wo), prepared, residual, slope,
                       output == "both")


def _fused_output(output: object, epilogue: bool) -> None:
    if output not in ("float", "bits", "both"):
        raise ValueError(f"output must be 'float', 'bits' or 'both', got {output!r}")
    if output == "bits" and epilogue:
        raise ValueError("a residual or slope needs output 'float' or 'both' (bits come from a threshold)")


def _check_residual(residual: object, shape: tuple[int, ...]) -> None:
    if residual is not None and _array("residual", residual, (np.float32,), 4).shape != shape:
        raise ValueError(f"residual must have the output's shape {shape}, got {residual.shape}")  # type: ignore[attr-defined]


_MAX_PLANNED_SIZES = 64  # input sizes a plan remembers (an image pyramid has a handful)


class BinaryConvPlan:
    """:func:`binary_conv2d_fused` with everything but the input checked once: a model layer's per-call path.

    A layer's weights, affine terms, stride, padding and output never change after load, yet checking them
    on every call cost 7-10 us a call (a tenth of a small layer's time). The plan checks them once and keeps
    its own read-only copies; a call then checks only what can change (the input's dtype, rank, contiguity,
    words per pixel, and its height and width once per size) before calling the compiled kernel. An input
    or residual that fails that quick look goes through :func:`binary_conv2d_fused`, so it gets the same
    error as an outside caller does.
    """

    def __init__(self, w: BinaryConvWeights, scale: np.ndarray, bias: np.ndarray, stride: int = 1,
                 padding: BinaryPadding = "same_zero", output: Literal["float", "bits", "both"] = "float",
                 slope: np.ndarray | None = None, residual: bool = False) -> None:
        if not isinstance(w, BinaryConvWeights):
            raise ValueError(f"w must be BinaryConvWeights, got {type(w).__name__}")
        _fused_output(output, residual or slope is not None)
        if padding not in _BINARY_PADDINGS:
            raise ValueError(f"padding must be one of {_BINARY_PADDINGS}, got {padding!r}")
        o, kh, kw, wc = w.shape
        _stride(stride)
        if kh * kw * w.c_in >= 2**30:
            raise ValueError(f"kernel {kh}x{kw} x {w.c_in} channels is too large for int32 sums")
        self.weights, self.stride, self.padding, self.output = w, stride, padding, output
        self.scale = _frozen(_affine("scale", scale, o, False))
        self.bias = _frozen(_affine("bias", bias, o, False))
        self.slope = None if slope is None else _frozen(_affine("slope", slope, o))
        self._o, self._wc, self._word_ops, self._residual = o, wc, o * kh * kw * wc, residual
        self._mode = 2 if output == "bits" else 1
        # the packed signs' per-channel thresholds, found once here rather than on every call
        k = kh * kw * w.c_in
        self._signs_at = _bconv.thresholds(self.scale, self.bias, k) if self._mode == 2 else None
        self._sizes: dict[tuple[int, ...], tuple[int, int, int, int, int]] = {}

    def __call__(self, x: np.ndarray, residual: np.ndarray | None = None) -> _Result:
        """The fused conv of packed ``x`` (plus ``residual`` when the plan was made with one)."""
        if (type(x) is not np.ndarray or x.dtype.type is not np.uint64 or x.ndim != 4
                or x.shape[3] != self._wc or not x.flags.c_contiguous or not x.size):
            return self._checked(x, residual)
        geom = self._sizes.get(x.shape[1:3]) or self._size(x)
        s, ph, pw, ho, wo = geom
        n = x.shape[0]
        if residual is not None and (type(residual) is not np.ndarray or residual.dtype.type is not np.float32
                                     or residual.shape != (n, ho, wo, self._o)
                                     or not residual.flags.c_contiguous):
            return self._checked(x, residual)
        w = self.weights
        return _bconv.conv(x, w.packed, w.c_in, s, ph, pw, self.padding == "same_zero", ho, wo, self._mode,
                           self.scale, self.bias, _path, _threads_for(n * ho * wo * self._word_ops,
                                                                      _parallel_word_ops()),
                           w._prepared, residual, self.slope, self.output == "both", self._signs_at)

    def bind(self, x: np.ndarray, residual: np.ndarray | None, out: np.ndarray,
             packed: np.ndarray | None = None) -> Bound:
        """This plan's conv bound to ``x`` (and ``residual``) and to arrays for its result, as a call returns
        it (``out``, and ``packed`` for ``output="both"``): each run computes it from what they hold then."""
        s, ph, pw, ho, wo = self._size(x)  # checks x in full
        n, o = x.shape[0], self._o
        if (residual is not None) != self._residual:
            raise ValueError("residual must be given exactly when the plan adds one")
        if residual is not None:
            _bound_array("residual", residual, (n, ho, wo, o), np.float32)
        # a float out may be the residual itself (each value is read before it is written over: the runtime
        # plans a residual read for the last time this way), never part of it or of x
        over = residual is not None and self._mode != 2 and _same_array(out, residual)
        _bound_out("out", out, (n, ho, wo, _words(o)) if self._mode == 2 else (n, ho, wo, o),
                   np.uint64 if self._mode == 2 else np.float32, x, None if over else residual)
        if self.output == "both":
            _bound_out("packed", packed, (n, ho, wo, _words(o)), np.uint64, x, residual, out)
        threads = _policy_threads(n * ho * wo * self._word_ops, _parallel_word_ops())
        w = self.weights
        call = _bconv.bind(x, w.packed, w.c_in, s, ph, pw, self.padding == "same_zero", ho, wo, self._mode,
                           self.scale, self.bias, _path, max(threads), w._prepared, residual, self.slope,
                           self.output == "both", self._signs_at, out, packed)
        return Bound(call, threads)

    def _size(self, x: np.ndarray) -> tuple[int, int, int, int, int]:
        """Check an input size fully once (as binary_conv2d_fused does) and remember its geometry."""
        geom = _binary_conv_args(x, self.weights, self.weights.c_in, self.stride, self.padding)[3]
        if len(self._sizes) >= _MAX_PLANNED_SIZES:
            self._sizes.clear()
        self._sizes[x.shape[1:3]] = geom
        return geom

    def _checked(self, x: object, residual: object) -> _Result:
        return binary_conv2d_fused(x, self.weights, self.weights.c_in, self.scale, self.bias,  # type: ignore[arg-type]
                                   self.stride, self.padding, self.output, residual, self.slope)  # type: ignore[arg-type]


def aligned_empty(shape: int | tuple[int, ...], dtype: type) -> np.ndarray:
    """An uninitialised C-order array whose data starts on a 64-byte cache line. numpy's large arrays start 16
    bytes into a page and its small ones on any 16-byte boundary, so the kernels' 32- and 64-byte loads of
    rows made of whole vectors spanned two lines every other time."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    buf = np.empty(nbytes + 63, np.uint8)
    skip = -buf.ctypes.data % 64
    return buf[skip:skip + nbytes].view(dtype).reshape(shape)


def _aligned_copy(a: np.ndarray) -> np.ndarray:
    """A C-order copy of ``a`` on whole cache lines (see :func:`aligned_empty`)."""
    out = aligned_empty(a.shape, a.dtype.type)
    out[...] = a
    return out


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy on whole cache lines: a plan's checked arrays cannot be changed behind its back, and
    no vector load of them spans two lines."""
    a = _aligned_copy(a)
    a.flags.writeable = False
    return a


def bwn_conv2d(x: np.ndarray, w: np.ndarray, c_in: int, scale: np.ndarray, bias: np.ndarray,
               stride: int = 1, padding: Literal["valid", "same"] = "valid", slope: np.ndarray | None = None,
               output: Literal["float", "both"] = "float",
               out: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Binary-weight convolution of real NHWC ``x``: ``y = scale[o] * conv(x, ±1 weights) + bias[o]``.

    The step to a following binary layer can go into the same call (fused at load time, as the binary
    conv's): ``slope`` [O] applies PReLU to y, rounded as :func:`prelu` rounds it, and ``output="both"``
    returns ``(y, pack_bits(y))`` (a ValueError if y holds NaN, as :func:`pack_bits` raises), the signs
    taken from the epilogue's vectors. ``out`` (float32 [N, Ho, Wo, O], C-contiguous, not overlapping the
    inputs) receives the float result, else a new array does (a layer's planned buffer, see
    ``runtime._layers.BwnConv2d``).

    No multiplies until the scale: for each group of 4 taps (4 channels at one kernel position) and 8 output
    pixels the kernel writes the 16 signed sums once, and every output channel adds the one of its signs
    (``xnv_bwn.h``). Sums are float32 in one fixed order (groups in (dy, dx, c) order, each group's taps as
    (±x0 ± x1) + (±x2 ± x3)), then ``* scale + bias``: the same bits on every CPU path, thread count and
    batch, and float32 rounding away from an exact sum. Kernels of up to 64 rows.
    """
    x = _array("x", x, (np.float32,), 4)
    w = _array("w", w, (np.uint64,), 4)
    c_in = _positive_int("c_in", c_in)
    if x.shape[3] != c_in:
        raise ValueError(f"x must have c_in = {c_in} channels, got {x.shape[3]}")
    _bwn_weight_shape(w, c_in)
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    if output not in ("float", "both"):
        raise ValueError(f"output must be 'float' or 'both', got {output!r}")
    s, ph, pw, ho, wo = _conv_geometry(x.shape[1], x.shape[2], w.shape[1], w.shape[2], stride,
                                       padding == "same")
    scale, bias = _affine("scale", scale, w.shape[0]), _affine("bias", bias, w.shape[0])
    if slope is not None:
        slope = _affine("slope", slope, w.shape[0])
    out = _float_out(out, (x.shape[0], ho, wo, w.shape[0]), x, w, scale, bias, slope)
    return _BwnTables.of(w, c_in, scale, bias, slope).run(x, w.shape[1:3], (s, ph, pw), out, output)


def _bwn_weight_shape(w: np.ndarray, c_in: int) -> None:
    """A BWN weight [O, kh, kw, ceil(c_in/64)] of at most 64 kernel rows, or a ValueError."""
    if w.shape[3] != _words(c_in):
        raise ValueError(f"w must hold ceil(c_in/64) = {_words(c_in)} words per tap, got {w.shape[3]}")
    if w.shape[1] > _bwn.MAX_KERNEL_ROWS:
        raise ValueError(f"a binary-weight conv takes kernels of at most {_bwn.MAX_KERNEL_ROWS} rows, "
                         f"got {w.shape[1]}")


def _bwn_macs(x: np.ndarray, out: np.ndarray, kernel: tuple[int, int]) -> int:
    """A BWN conv's multiply-adds (what the table adds stand for), for its thread count."""
    return out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3] * kernel[0] * kernel[1] * x.shape[3]


class _BwnTables(NamedTuple):
    """What the table kernel reads of a BWN conv's weights: each output channel's sign pattern per group of 4
    taps, as uint8 [ceil(O/8), groups, 8] holding 8 * pattern (bit k: tap k's weight is -1; ``xnv_bwn.h``),
    and scale, bias and slope padded with zeros to whole blocks of 8 channels."""

    patterns: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    slope: np.ndarray | None

    @staticmethod
    def of(w: np.ndarray, c_in: int, scale: np.ndarray, bias: np.ndarray,
           slope: np.ndarray | None) -> _BwnTables:
        o, kh, kw, _ = w.shape
        blocks, quads = -(-o // 8), -(-c_in // 4)
        negative = np.zeros((blocks * 8, kh, kw, quads * 4), bool)
        negative[:o, :, :, :c_in] = unpack_bits(w, c_in) < 0
        pattern = (negative.reshape(blocks * 8, -1, 4) << np.arange(4)).sum(axis=2, dtype=np.uint8) * 8
        patterns = _frozen(pattern.reshape(blocks, 8, -1).transpose(0, 2, 1))

        def padded(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else _frozen(np.pad(a, (0, blocks * 8 - o)))

        return _BwnTables(patterns, padded(scale), padded(bias), padded(slope))  # type: ignore[arg-type]

    def bind(self, x: np.ndarray, kernel: tuple[int, int], geom: tuple[int, int, int], out: np.ndarray,
             bits: np.ndarray | None, threads: int) -> Any:
        """The table kernel's call on checked arguments (``geom``: stride, padding rows, padding columns)."""
        return _bwn.bind(x, self.patterns, self.scale, self.bias, self.slope, kernel[0], kernel[1], *geom,
                         out, bits, _float_path, threads)

    def run(self, x: np.ndarray, kernel: tuple[int, int], geom: tuple[int, int, int], out: np.ndarray,
            output: str) -> _Result:
        """One call on checked arguments: ``out``, with new packed signs beside it for ``output="both"``."""
        bits = np.empty((*out.shape[:3], _words(out.shape[3])), np.uint64) if output == "both" else None
        threads = _threads_for(_bwn_macs(x, out, kernel), _PARALLEL_FLOAT_MACS)
        return self.bind(x, kernel, geom, out, bits, threads).run()


def _usable_out(out: object, shape: tuple[int, ...], x: np.ndarray) -> bool:
    """A plan's quick look at a given ``out``: float32 of ``shape``, C-contiguous, writeable, apart from ``x``
    (anything else goes through the full check, for its error)."""
    return (type(out) is np.ndarray and out.dtype.type is np.float32 and out.shape == shape
            and out.flags.c_contiguous and out.flags.writeable and not np.may_share_memory(out, x))


class BwnConvPlan:
    """:func:`bwn_conv2d` with everything but the input checked once: a model layer's per-call path.

    Checking the fixed arguments on every call cost ~19 us a call; the plan checks them and builds the
    kernel's sign patterns once. A call checks the input (dtype, rank, contiguity, channels, and its height
    and width once per size) and ``out`` (shape, dtype, not overlapping ``x``), then runs the kernel;
    anything else goes through :func:`bwn_conv2d` for its error.
    """

    def __init__(self, w: np.ndarray, c_in: int, scale: np.ndarray, bias: np.ndarray, stride: int = 1,
                 padding: Literal["valid", "same"] = "valid", slope: np.ndarray | None = None,
                 output: Literal["float", "both"] = "float") -> None:
        w = _frozen(_array("w", w, (np.uint64,), 4))
        self.c_in = _positive_int("c_in", c_in)
        _bwn_weight_shape(w, self.c_in)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if output not in ("float", "both"):
            raise ValueError(f"output must be 'float' or 'both', got {output!r}")
        o = w.shape[0]
        self.w, self.stride, self.padding, self.output = w, _stride(stride), padding, output
        self.scale, self.bias = _frozen(_affine("scale", scale, o)), _frozen(_affine("bias", bias, o))
        self.slope = None if slope is None else _frozen(_affine("slope", slope, o))
        self._tables = _BwnTables.of(w, self.c_in, self.scale, self.bias, self.slope)
        self._sizes: dict[tuple[int, ...], tuple[int, int, int, int, int]] = {}

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> _Result:
        """The conv of float32 NHWC ``x``, into ``out`` when given (see :func:`bwn_conv2d`)."""
        if (type(x) is not np.ndarray or x.dtype.type is not np.float32 or x.ndim != 4
                or x.shape[3] != self.c_in or not x.flags.c_contiguous or not x.size):
            return self._checked(x, out)
        s, ph, pw, ho, wo = self._sizes.get(x.shape[1:3]) or self._size(x)
        shape = (x.shape[0], ho, wo, self.w.shape[0])
        if out is None:
            out = np.empty(shape, np.float32)
        elif not _usable_out(out, shape, x):
            return self._checked(x, out)
        return self._tables.run(x, self.w.shape[1:3], (s, ph, pw), out, self.output)

    def bind(self, x: np.ndarray, out: np.ndarray, bits: np.ndarray | None = None) -> Bound:
        """This plan's conv bound to ``x`` and to arrays for its result, as a call returns it (``out``, and
        ``bits`` for ``output="both"``): each run computes it from what they hold then."""
        x = _array("x", x, (np.float32,), 4)
        if x.shape[3] != self.c_in:
            raise ValueError(f"x must have {self.c_in} channels, got {x.shape[3]}")
        if not x.flags.c_contiguous:
            raise ValueError("x must be C-contiguous")
        s, ph, pw, ho, wo = self._sizes.get(x.shape[1:3]) or self._size(x)
        shape = (x.shape[0], ho, wo, self.w.shape[0])
        _bound_out("out", out, shape, np.float32, x)
        if self.output == "both":
            _bound_out("bits", bits, (*shape[:3], _words(shape[3])), np.uint64, x, out)
        threads = _policy_threads(_bwn_macs(x, out, self.w.shape[1:3]), _PARALLEL_FLOAT_MACS)
        signs = bits if self.output == "both" else None
        call = self._tables.bind(x, self.w.shape[1:3], (s, ph, pw), out, signs, max(threads))
        return Bound(call, threads)

    def _size(self, x: np.ndarray) -> tuple[int, int, int, int, int]:
        """Check an input size once (as bwn_conv2d does) and remember its geometry."""
        geom = _conv_geometry(x.shape[1], x.shape[2], self.w.shape[1], self.w.shape[2], self.stride,
                              self.padding == "same")
        if len(self._sizes) >= _MAX_PLANNED_SIZES:
            self._sizes.clear()
        self._sizes[x.shape[1:3]] = geom
        return geom

    def _checked(self, x: object, out: object) -> _Result:
        return bwn_conv2d(x, self.w, self.c_in, self.scale, self.bias, self.stride,  # type: ignore[arg-type]
                          self.padding, self.slope, self.output, out)  # type: ignore[arg-type]


def conv2d_small(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None,
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, relu: bool = False,
                 out: np.ndarray | None = None, *, lut: np.ndarray | None = None,
                 channels: tuple[int, ...] | list[int] | np.ndarray | None = None,
                 pool: int | None = None,
                 output: Literal["float", "both"] = "float") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Direct float32 convolution of NHWC ``x`` with ``w`` [kh, kw, C, O] (HWIO), for few taps x channels.

    Made for a network's first layer (3x3 x 3 channels -> 16, several times faster than im2col + BLAS
    there): the SIMD kernel reads ``x`` in place and multiplies each input value into a tile of output
    channels (16 at a time on AVX2, up to 64 on AVX-512), which pays while ``kh * kw * C`` is small (up to
    ~64); larger contractions belong to a GEMM.
    A 1x1 stride-1 conv of float input splits its pixels (every image's) into a few ranges per thread, so
    few rows still feed every thread.
    Zero padding (an int or a pair), any stride (likewise); ``bias`` [O] is added, ``relu`` clamps at 0
    (NaN stays NaN, as with ``np.maximum``). The result goes into ``out`` (float32 [N, Ho, Wo, O],
    C-contiguous, not overlapping the inputs) when given, else into a new array. Sums are float32 in
    (dy, dx, c) order, fused multiply-adds on the AVX2/AVX-512 paths: they differ from an exact sum by
    float32 rounding only, not bit-for-bit from numpy's. On AVX2 and AVX-512 (the same code and bits) a 7x7
    stride-2 conv of up to 4 channels into whole blocks of 16 (ResNet's stem) runs Winograd's algorithm
    instead (``xnv_fc_wino.h``): 117 multiplies a channel for 2 x 4 outputs where the direct sums take 392,
    and a rounding error of the order of float32's on the largest output of a tile, whatever the output's
    own size. Its bits do not depend on threads or on the image's place in the batch, and a fused pool
    sees them (``_fconv.winograd`` tells which convs run so).

    ``x`` may instead be a uint8 image [N, H, W, Cx], normalised as it is read: ``lut`` (float32 [256, C],
    or [1, 256, C] as ``cv2.LUT`` takes it) gives the value of byte v in input channel c, ``lut[v, c]``, and
    ``channels`` (C ints in [0, Cx); None is ``range(C)`` and needs Cx = C) the channel of ``x`` that input
    channel c reads, e.g. ``(2, 1, 0)`` for a BGR image and an RGB model. The result is bit-for-bit that of
    the float input ``lut[x[..., channels], range(C)]`` on every path, padding included (zeros of that
    normalised tensor), without the float image: each thread converts the input rows it needs into a small
    buffer as it goes: by look-ups (~0.25 ns a value, about a third of the convolution's time for a 3x3
    stride-2 stem), or, where every channel's table is ``v * scale + shift`` rounded as the runtime builds it
    and the CPU has AVX2 (x86-64), 8 values at a time with vector instructions, the same floats.

    ``pool=2`` fuses a 2x2 stride-2 max pool (no padding; an odd last row or column is dropped, as with
    PyTorch's ``MaxPool2d(2)``): the result (and ``out``) is [N, Ho // 2, Wo // 2, O], bit for bit
    ``maxpool2d(conv2d_small(...), 2, 2)`` (NaN and signed zeros included), without writing the full-size
    conv output to memory: each thread pools its two conv rows from a small buffer. Needs Ho, Wo >= 2.
    ``pool=3`` fuses ResNet's 3x3 stride-2 max pool with padding 1 the same way (each thread keeps its last
    three conv rows): [N, (Ho + 1) // 2, (Wo + 1) // 2, O], bit for bit ``maxpool2d(conv, 3, 2, 1)``.

    ``output="both"`` returns ``(result, pack_bits(result))`` (a ValueError if the result holds NaN, as
    :func:`pack_bits` raises), each row packed while it is in cache: a sign after the stem, fused at load.
    A model layer calls it through a :class:`DirectConvPlan`, which checks the fixed arguments once.
    """
    x, args, out = _conv2d_small_args(x, w, bias, stride, padding, relu, out, lut=lut, channels=channels,
                                      pool=pool, output=output)
    return _direct_run(x, args, out)


class _DirectArgs(NamedTuple):
    """conv2d_small's arguments once checked: what the kernel takes, and the output's shape."""

    w: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    pad: tuple[int, int]
    relu: bool
    lut: np.ndarray | None
    chan: np.ndarray | None
    pool: int | None
    signs: bool
    shape: tuple[int, int, int, int]


def _conv2d_small_args(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                       stride: int | tuple[int, int], padding: int | tuple[int, int], relu: bool,
                       out: np.ndarray | None, *, lut: np.ndarray | None,
                       channels: tuple[int, ...] | list[int] | np.ndarray | None, pool: int | None,
                       output: str) -> tuple[np.ndarray, _DirectArgs, np.ndarray]:
    """Check conv2d_small's arguments: (x, the kernel's arguments, the output buffer) or a ValueError."""
    x = _array("x", x, (np.float32, np.uint8), 4)
    w = _array("w", w, (np.float32,), 4)
    n, h, wi, cx = x.shape
    kh, kw, c, o = w.shape
    chan = None
    if x.dtype == np.uint8:
        if lut is None:
            raise ValueError(f"a uint8 x needs lut (float32 [256, {c}]) to normalise it")
        if not isinstance(lut, np.ndarray):
            raise ValueError(f"lut must be a numpy array, got {type(lut).__name__}")
        if lut.dtype != np.float32:
            raise ValueError(f"lut must have dtype float32, got {lut.dtype}")
        if lut.shape != (256, c) and lut.shape != (1, 256, c):
            raise ValueError(f"lut must have shape (256, {c}) or (1, 256, {c}) (a value per byte and per "
                             f"input channel of w), got {lut.shape}")
        lut = np.ascontiguousarray(lut)
        if channels is None:
            if cx != c:
                raise ValueError(f"x has {cx} channels and w takes C = {c}: pass channels (the channel of x "
                                 f"that each of the {c} reads)")
            chan = np.arange(c, dtype=np.int32)
        else:
            if isinstance(channels, np.ndarray) and channels.ndim == 1 and channels.dtype.kind in "iu":
                items = channels.tolist()
            elif isinstance(channels, tuple | list) and all(
                    type(v) is int or (isinstance(v, int | np.integer) and not isinstance(v, bool))
                    for v in channels):
                items = [int(v) for v in channels]
            else:
                raise ValueError(f"channels must be a sequence of ints, got {channels!r}")
            if len(items) != c:
                raise ValueError(f"channels must have C = {c} entries (one per input channel of w), "
                                 f"got {len(items)}")
            if not all(0 <= v < cx for v in items):
                raise ValueError(f"channels must be in [0, {cx}) (the channels of x), got {tuple(items)}")
            chan = np.array(items, np.int32)
    elif lut is not None or channels is not None:
        raise ValueError("lut and channels are for a uint8 x; this x is float32 (already normalised)")
    elif c != cx:
        raise ValueError(f"w must be [kh, kw, C, O] with C = {cx} (the channels of x), got shape {w.shape}")
    if bias is not None:
        bias = _affine("bias", bias, o, False)
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    if h + 2 * ph < kh or wi + 2 * pw < kw:
        raise ValueError(f"kernel {kh}x{kw} is larger than the (padded) input {h + 2 * ph}x{wi + 2 * pw}")
    if not isinstance(relu, bool | np.bool_):
        raise ValueError(f"relu must be a bool, got {type(relu).__name__}")
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wi + 2 * pw - kw) // sw + 1
    if output not in ("float", "both"):
        raise ValueError(f"output must be 'float' or 'both', got {output!r}")
    shape = (n, ho, wo, o)
    if pool is not None:
        if isinstance(pool, bool) or not isinstance(pool, int | np.integer) or pool not in (2, 3):
            raise ValueError("pool must be None, 2 (a fused 2x2 stride-2 max pool) or 3 (3x3, stride 2, "
                             f"padding 1), got {pool!r}")
        if pool == 2 and (ho < 2 or wo < 2):
            raise ValueError(f"pool 2x2 is larger than the convolution's output {ho}x{wo}")
        shape = (n, ho // 2, wo // 2, o) if pool == 2 else (n, (ho + 1) // 2, (wo + 1) // 2, o)
    out = _float_out(out, shape, x, w, bias)
    args = _DirectArgs(w, bias, (sh, sw), (ph, pw), bool(relu), lut, chan, pool, output == "both", shape)
    return x, args, out


def _direct_run(x: np.ndarray, a: _DirectArgs,
                out: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The direct kernel on checked arguments: ``out``, with its packed signs when ``a.signs``."""
    bits = np.empty((*a.shape[:3], _words(a.w.shape[3])), np.uint64) if a.signs else None
    _direct_conv(x, a.w, a.bias, a.stride, a.pad, a.relu, out, a.lut, a.chan, a.pool, bits=bits)
    return out if bits is None else (out, bits)


class DirectConvPlan:
    """:func:`conv2d_small` with everything but the input checked once: a model layer's per-call path.

    conv2d_small's checks (weights, bias, table, channels, out) cost ~10 us a call, a sixth of vgg-small's
    32x32 stem. The plan checks ``w`` and ``bias`` once, a call's other arguments in full (as conv2d_small
    does) the first time it sees an input's dtype and shape, keeps what they became, and then checks only
    that ``x`` is such an array, C-contiguous, and ``out`` (shape, dtype, not overlapping ``x``); anything
    else goes through conv2d_small's checks and errors.
    """

    def __init__(self, w: np.ndarray, bias: np.ndarray | None = None, stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] = 0, relu: bool = False, *, lut: np.ndarray | None = None,
                 channels: tuple[int, ...] | None = None, pool: int | None = None,
                 output: Literal["float", "both"] = "float") -> None:
        self.w = _frozen(_array("w", w, (np.float32,), 4))
        self.bias = None if bias is None else _frozen(_affine("bias", bias, self.w.shape[3], False))
        self.lut = _frozen(lut) if isinstance(lut, np.ndarray) else lut  # checked with the first image
        self.channels, self.args = channels, (stride, padding, relu)
        self.kwargs: dict[str, Any] = {"pool": pool, "output": output}
        self._sizes: dict[tuple[Any, ...], _DirectArgs] = {}

    def __call__(self, x: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The conv of ``x`` (float32, or uint8 read through the plan's table), into ``out`` when given."""
        if type(x) is not np.ndarray or not x.flags.c_contiguous:
            return self._checked(x, out)
        a = self._sizes.get((x.dtype, x.shape))
        if a is None:
            return self._checked(x, out)
        if out is None:
            out = np.empty(a.shape, np.float32)
        elif not _usable_out(out, a.shape, x):
            return self._checked(x, out)
        return _direct_run(x, a, out)

    def bind(self, x: np.ndarray, out: np.ndarray, bits: np.ndarray | None = None,
             slope: np.ndarray | None = None) -> Bound:
        """This plan's conv bound to ``x`` and to arrays for its result, as a call returns it (``out``, and
        ``bits`` for ``output="both"``): each run computes it from what they hold then. ``slope``: a PReLU
        after the sum (a binary-weight conv's, see :meth:`BwnConvPlan.bind`)."""
        images = isinstance(x, np.ndarray) and x.dtype == np.uint8
        x, a, _ = _conv2d_small_args(x, self.w, self.bias, *self.args, None,  # type: ignore[arg-type]
                                     lut=self.lut if images else None,
                                     channels=self.channels if images else None, **self.kwargs)
        if not x.flags.c_contiguous:
            raise ValueError("x must be C-contiguous")
        _bound_out("out", out, a.shape, np.float32, x)
        if a.signs:
            _bound_out("bits", bits, (*a.shape[:3], _words(a.w.shape[3])), np.uint64, x, out)
        threads = _policy_threads(*_direct_work(x, a.w, a.stride, a.pad))
        call = _fconv.bind(x, a.w, a.bias, a.stride[0], a.stride[1], a.pad[0], a.pad[1], a.relu, out,
                           _float_path, max(threads), a.lut, a.chan, a.pool or 0, slope,
                           bits if a.signs else None)
        return Bound(call, threads)

    def _checked(self, x: object, out: object) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """A call checked in full, as conv2d_small checks it; its arguments kept for this input."""
        images = isinstance(x, np.ndarray) and x.dtype == np.uint8  # the table is for images only
        x, a, out = _conv2d_small_args(x, self.w, self.bias, *self.args, out,  # type: ignore[arg-type]
                                       lut=self.lut if images else None,
                                       channels=self.channels if images else None, **self.kwargs)
        if x.flags.c_contiguous:
            if len(self._sizes) >= _MAX_PLANNED_SIZES:
                self._sizes.clear()
            self._sizes[(x.dtype, x.shape)] = a
        return _direct_run(x, a, out)


_DENSE_LANES = 16  # outputs a panel of the dense kernel


class DensePlan:
    """A float linear layer, ``y = x @ weight.T + bias``, on the dense kernel: the bias, then the terms in
    order, one fused multiply-add each, so every path with FMA gives the same bits (BLAS sums in its own
    order, per CPU). The weights are packed once in panels of 16 outputs, read as contiguous streams; when
    each row of ``weight`` is exactly ``fl(q * s)`` for int8 ``q`` and one float32 ``s`` (what a file's int8
    storage loads as), they are kept as int8 and the kernel rebuilds each value the same way, reading a
    quarter of the bytes (ResNet-18's 512 -> 1000 classifier: 0.5 MB instead of 2 MB a run).

    Runs where the float kernels fuse their multiply-adds (:func:`dense_available`).
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
        weight = _array("weight", weight, (np.float32,), 2)
        self.o, self.k = weight.shape
        self.bias = None if bias is None else _padded(_affine("bias", bias, self.o, False), self.o)
        panels = (self.o + _DENSE_LANES - 1) // _DENSE_LANES
        int8 = _int8_rows(weight)
        self.wf = self.wq = self.scale = None
        if int8 is None:
            self.wf = _panels(weight, panels)
        else:
            self.wq, self.scale = _panels(int8[0], panels), _padded(int8[1], self.o)

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The layer of float32 ``x`` [rows, k], into ``out`` [rows, o] when given."""
        x = _array("x", x, (np.float32,), 2)
        if x.shape[1] != self.k:
            raise ValueError(f"x must have {self.k} features, got {x.shape[1]}")
        if out is None:
            out = np.empty((x.shape[0], self.o), np.float32)
        return self.bind(x, out).call.run()

    def bind(self, x: np.ndarray, out: np.ndarray) -> Bound:
        """This layer bound to ``x`` and ``out``: each run computes it from what ``x`` holds then."""
        _bound_array("x", x, (len(x), self.k), np.float32)
        _bound_out("out", out, (len(x), self.o), np.float32, x)
        lanes = (self.o + _DENSE_LANES - 1) // _DENSE_LANES * _DENSE_LANES  # whole panels, as the kernel runs
        threads = _policy_threads(max(len(x), _DENSE_MIN_ROWS) * self.k * lanes, _PARALLEL_FLOAT_MACS)
        return Bound(_fconv.dense_bind(x, self.wf, self.wq, self.scale, self.bias, out, _float_path,
                                       max(threads)),
                     threads)


def dense_available() -> bool:
    """Whether :class:`DensePlan` runs on this CPU's path (x86's portable path has no fused multiply-add)."""
    return bool(_fconv.dense_path(_float_path))


def _padded(v: np.ndarray, o: int) -> np.ndarray:
    """``v`` [o] as float32 padded with zeros to whole panels."""
    out = np.zeros(-(-o // _DENSE_LANES) * _DENSE_LANES, np.float32)
    out[:o] = v
    return out


_DENSE_GROUP = 8  # panels a group of the dense kernel: one stream, read by 8 FMA chains


def _panels(w: np.ndarray, panels: int) -> np.ndarray:
    """[o, k] weights as the dense kernel reads them: panels of 16 outputs (zeros past o), 8 panels a group
    (the last group the rest), each group [k][its panels][16], the groups one after another (flat)."""
    o, k = w.shape
    padded = np.zeros((panels * _DENSE_LANES, k), w.dtype)
    padded[:o] = w
    groups = []
    for p in range(0, panels, _DENSE_GROUP):
        g = min(_DENSE_GROUP, panels - p)
        block = padded[p * _DENSE_LANES:(p + g) * _DENSE_LANES].reshape(g, _DENSE_LANES, k)
        groups.append(block.transpose(2, 0, 1).reshape(-1))
    return _aligned_copy(np.concatenate(groups))


def _int8_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(q int8 [o, k], s float32 [o]) with ``q * s`` in float32 equal to ``w`` bit for bit, or None.

    A row stored as int8 has its largest value at q = +-127; the scale that made it is found among the
    float32 neighbours of that value / 127, and every candidate is checked, so any other matrix is None.
    """
    if not np.isfinite(w).all():
        return None
    amax = np.abs(w).max(axis=1).astype(np.float32)
    base = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
    found = np.zeros(len(w), bool)
    q_all, s_all = np.zeros(w.shape, np.int8), np.zeros(len(w), np.float32)
    bits = w.view(np.uint32)
    for step in (0, 1, -1, 2, -2):
        s = base
        for _ in range(abs(step)):
            s = np.nextafter(s, np.float32(np.inf if step > 0 else 0), dtype=np.float32)
        q = np.clip(np.rint(w / s[:, None]), -127, 127).astype(np.int8)  # (an int has no -0: checked below)
        ok = ~found & ((q.astype(np.float32) * s[:, None]).view(np.uint32) == bits).all(axis=1)
        q_all[ok], s_all[ok] = q[ok], s[ok]
        found |= ok
        if found.all():
            return q_all, s_all
    return None


def _float_out(out: np.ndarray | None, shape: tuple[int, ...], *inputs: np.ndarray | None) -> np.ndarray:
    """A conv's float32 result buffer: ``out`` checked (shape, writeable, not overlapping the inputs: the
    kernel reads them while it writes), else a new array."""
    if out is None:
        return np.empty(shape, np.float32)
    out = _array("out", out, (np.float32,), len(shape))
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    if any(a is not None and np.may_share_memory(out, a) for a in inputs):
        raise ValueError("out must not overlap the inputs")
    return out


def _direct_conv(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, stride: tuple[int, int],
                 pad: tuple[int, int], relu: bool, out: np.ndarray, lut: np.ndarray | None = None,
                 chan: np.ndarray | None = None, pool: int | None = None, slope: np.ndarray | None = None,
                 bits: np.ndarray | None = None) -> np.ndarray:
    """The direct float kernel on checked arguments (``out`` the conv's, or the pooled conv's, shape).

    ``slope``: a PReLU after the sum; ``bits`` (uint64, ``out``'s shape with ceil(O/64) words a pixel)
    receives the packed signs of ``out`` (a ValueError if it holds NaN, as :func:`pack_bits`)."""
    threads = _threads_for(*_direct_work(x, w, stride, pad))
    return _fconv.conv(x, w, bias, stride[0], stride[1], pad[0], pad[1], relu, out, _float_path, threads, lut,
                       chan, pool or 0, slope, bits)


def _direct_work(x: np.ndarray, w: np.ndarray, stride: tuple[int, int],
                 pad: tuple[int, int]) -> tuple[int, int]:
    """A direct conv's work (multiply-adds, whole blocks of 16 outputs) and the work it goes parallel from."""
    kh, kw, c, o = w.shape
    ho, wo = (x.shape[1] + 2 * pad[0] - kh) // stride[0] + 1, (x.shape[2] + 2 * pad[1] - kw) // stride[1] + 1
    macs = x.shape[0] * ho * wo * kh * kw * c * ((o + 15) // 16 * 16)
    simd = _fconv.path(_float_path) != _PATHS["portable"]
    return macs, _PARALLEL_FLOAT_MACS if simd else _PARALLEL_FLOAT_MACS_PORTABLE


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


def _pool_values(codes: list[int], x: np.ndarray, ho: int, wo: int, kh: int, kw: int) -> int:
    """The values the pools ``codes`` touch: their work, against _PARALLEL_VALUES."""
    return len(codes) * x.shape[0] * ho * wo * x.shape[3] * kh * kw


def _pool_call(x: np.ndarray, codes: list[int], kernel: object, stride: object,
               padding: object) -> np.ndarray:
    """The pools ``codes`` (the kernel's numbers, side by side when several) of a checked ``x``."""
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_geometry(x, kernel, stride, padding)
    threads = _threads_for(_pool_values(codes, x, ho, wo, kh, kw), _PARALLEL_VALUES)
    return _pool.pool(x, codes, kh, kw, sh, sw, ph, pw, ho, wo, threads)


PoolOp = Literal["maxpool2d_bits", "maxpool2d", "avgpool2d"]
_POOL_OPS = {"maxpool2d_bits": (0, np.uint64), "maxpool2d": (1, np.float32), "avgpool2d": (2, np.float32)}
#: float pools that one call (:func:`pools_side_by_side`, :func:`pool_bind`) runs side by side at most
MAX_POOLS_SIDE_BY_SIDE: int = _pool.MAX_OPS


def _pool_codes(ops: tuple[str, ...]) -> tuple[list[int], type]:
    """The kernel's codes of pools that run side by side, and their dtype: 1 to 4 float pools, or one."""
    if not 1 <= len(ops) <= MAX_POOLS_SIDE_BY_SIDE or any(op not in _POOL_OPS for op in ops):
        raise ValueError(f"ops must be 1 to {MAX_POOLS_SIDE_BY_SIDE} of {sorted(_POOL_OPS)}, got {ops!r}")
    if len(ops) > 1 and "maxpool2d_bits" in ops:
        raise ValueError("pools side by side are float pools (maxpool2d, avgpool2d)")
    return [_POOL_OPS[op][0] for op in ops], _POOL_OPS[ops[0]][1]


def pool_bind(op: PoolOp | tuple[PoolOp, ...], x: np.ndarray, kernel: int | tuple[int, int],
              stride: int | tuple[int, int], padding: int, out: np.ndarray) -> Bound:
    """The pool ``op`` (as the function of that name computes it) bound to ``x`` and ``out`` (its result's
    shape and dtype): each run computes it from what ``x`` holds then. A tuple of float pools runs them
    side by side, as :func:`pools_side_by_side` does."""
    codes, dtype = _pool_codes(op if isinstance(op, tuple) else (op,))
    x = _array("x", x, (dtype,), 4)
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_geometry(x, kernel, stride, padding)
    _bound_out("out", out, (x.shape[0], ho, wo, len(codes) * x.shape[3]), dtype, x)
    threads = _policy_threads(_pool_values(codes, x, ho, wo, kh, kw), _PARALLEL_VALUES)
    return Bound(_pool.bind(x, codes, kh, kw, sh, sw, ph, pw, ho, wo, max(threads), out), threads)


def pools_side_by_side(ops: tuple[Literal["maxpool2d", "avgpool2d"], ...], x: np.ndarray,
                       kernel: int | tuple[int, int], stride: int | tuple[int, int],
                       padding: int = 0) -> np.ndarray:
    """Float pools of one window geometry over ``x``, their results side by side along the channels:
    bit for bit ``np.concatenate([maxpool2d(x, ...) or avgpool2d(x, ...) for each op], -1)`` in one pass
    (each output row is every pool's in turn, while the input rows are in cache), without the concat's
    copy: a downsampling shortcut's average and max (the faces proposal net)."""
    codes, dtype = _pool_codes(tuple(ops))
    return _pool_call(_array("x", x, (dtype,), 4), codes, kernel, stride, padding)


def maxpool2d_bits(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Max-pool of packed ±1 activations: the max is -1 only where every cell is -1, a bitwise AND."""
    return _pool_call(_array("x", x, (np.uint64,), 4), [0], kernel, stride, padding)


def maxpool2d(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Float32 NHWC max-pool; padded cells never win."""
    return _pool_call(_array("x", x, (np.float32,), 4), [1], kernel, stride, padding)


def avgpool2d(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Float32 NHWC average-pool; the average is over real cells only (padding is not counted)."""
    return _pool_call(_array("x", x, (np.float32,), 4), [2], kernel, stride, padding)


def join_bind(xs: list[np.ndarray], out: np.ndarray) -> Bound:
    """Rows of ``xs`` side by side in ``out``, bound: each run copies what they hold then. The arrays are
    C-contiguous, of one dtype and one leading shape (every axis but the last, whose rows are joined), and
    ``out``'s rows are as long as theirs together: a channel concat of NHWC tensors, or a flatten (one input
    seen as [N, rest])."""
    if not xs or not isinstance(out, np.ndarray) or not all(isinstance(x, np.ndarray) for x in xs):
        raise ValueError("join_bind takes a list of one or more numpy arrays and a numpy array out")
    lead = out.shape[:-1]
    for i, x in enumerate(xs):
        _bound_array(f"xs[{i}]", x, (*lead, x.shape[-1]), out.dtype.type)
    _bound_out("out", out, (*lead, sum(x.shape[-1] for x in xs)), out.dtype.type, *xs)
    return Bound(_eltwise.join_bind(list(xs), out, int(np.prod(lead))), (1, 1))


# --------------------------------------------------------------------------------------- elementwise
def prelu(x: np.ndarray, slope: np.ndarray, residual: np.ndarray | None = None,
          out: np.ndarray | None = None) -> np.ndarray:
    """``v if v >= 0 else slope * v`` per channel (last axis), ``v = x + residual`` when one is given.

    One pass over memory, bit-exact with PyTorch's ``prelu(x + residual)`` in float32. ``out`` (same shape,
    float32, C-contiguous; may be ``x`` or ``residual``) receives the result, else a new array does.
    """
    x = _array("x", x, (np.float32,))
    slope = _affine("slope", slope, x.shape[-1])
    if residual is not None:
        residual = _array("residual", residual, (np.float32,))
        if residual.shape != x.shape:
            raise ValueError(f"residual must have the shape of x {x.shape}, got {residual.shape}")
    if out is None:
        out = np.empty_like(x)
    elif _array("out", out, (np.float32,)).shape != x.shape:
        raise ValueError(f"out must have the shape of x {x.shape}, got {out.shape}")
    return _eltwise.prelu(x, slope, residual, out, _threads_for(x.size, _PARALLEL_VALUES))


# ------------------------------------------------------------------------------------------- images
def _pixel_rows(name: str, a: np.ndarray) -> np.ndarray:
    """``a`` (uint8 [H, W, C]) if each of its rows is contiguous pixels; rows may be apart (a view)."""
    rows_apart = a.strides[0] >= a.shape[1] * a.shape[2]
    if (a.shape[2] > 1 and a.strides[2] != 1) or a.strides[1] != a.shape[2] or not rows_apart:
        raise ValueError(f"{name} must hold each row's pixels contiguously (a C-contiguous array or a crop "
                         f"of one), got strides {a.strides}")
    return a


def area_shrink(image: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """``image`` (uint8 [H, W, C] or [H, W]) shrunk to ``size`` (width, height): each output pixel the mean
    of the source area it covers, as ``cv2.resize(image, size, interpolation=cv2.INTER_AREA)``.

    Why not OpenCV's: its INTER_AREA has a fast path for integer scales only; at a detector's fractional
    scales (640x480 to long side 416) it takes ~6x as long as this kernel. Integer fixed point (see
    ``cython_kernels/xnv_area.h``): a value is within 0.55 of the exact mean, so within one grey level of
    OpenCV's (they differ where the mean sits near a half). Shrinks only (``size`` at most the image's on
    each side: enlarge with ``cv2.resize``), on one thread (a frame is a 0.1-0.5 ms job, too small to
    share). ``out`` (uint8 [h, w, C], or [h, w] for a 2-D image; its rows' pixels contiguous, the rows may
    be apart, e.g. the corner of a larger canvas) receives the result, else a new array does.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"image must be uint8 [H, W, C] or [H, W], got {image.dtype} of shape {image.shape}")
    if 0 in image.shape or image.shape[1] * (image.shape[2] if image.ndim == 3 else 1) >= 2**31 - 64:
        raise ValueError(f"image must be non-empty with rows under 2**31 bytes, got shape {image.shape}")
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    w, h = _positive_int("width", size[0]), _positive_int("height", size[1])
    if w > image.shape[1] or h > image.shape[0]:
        raise ValueError(f"size {w}x{h} is larger than the image {image.shape[1]}x{image.shape[0]} on a "
                         f"side: area_shrink only shrinks (enlarge with cv2.resize)")
    shape = (h, w) + image.shape[2:]
    if out is None:
        out = np.empty(shape, np.uint8)
    elif not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != shape:
        raise ValueError(f"out must be a uint8 array of shape {shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
    elif not out.flags.writeable:
        raise ValueError("out must be writeable")
    elif np.may_share_memory(out, image):
        raise ValueError("out must not overlap image")
    src, dst = (image, out) if image.ndim == 3 else (image[:, :, None], out[:, :, None])
    _area.shrink(_pixel_rows("image", src), _pixel_rows("out", dst))
    return out


# --------------------------------------------------------------------------------- threads and CPU
def set_num_threads(n: int) -> None:
    """The process default: threads of every kernel call outside :func:`using_threads` (a Model runs inside
    its own)."""
    global _num_threads
    _num_threads = _positive_int("n", n)


def set_eager_threads(eager: bool) -> None:
    """Let calls from ~40 us of work go parallel (True) or only those of 0.3-1 ms (False, the default)."""
    global _eager
    _eager = bool(eager)


def eager_threads() -> bool:
    """Whether the eager thread policy is on (see :func:`set_eager_threads`)."""
    return _eager


def get_num_threads() -> int:
    """Threads the kernels use outside :func:`using_threads` (the process default)."""
    return _num_threads


class using_threads:
    """Kernel calls made by this Python thread inside the block use ``threads`` and the ``eager`` policy.

    How each :class:`~xnorvision.runtime.Model` keeps its own thread count: the process default, other
    models and other Python threads never see the change. (A class, not a generator: a model enters it on
    every run, where contextlib's machinery cost more than the work.)
    """

    __slots__ = ("previous", "settings")

    def __init__(self, threads: int, eager: bool = False) -> None:
        self.settings = (_positive_int("threads", threads), bool(eager))
        self.previous: tuple[int, bool] | None = None

    def __enter__(self) -> None:
        self.previous = getattr(_local, "settings", None)
        _local.settings = self.settings

    def __exit__(self, *_: object) -> None:
        _local.settings = self.previous


def cpu_features() -> dict[str, bool]:
    """SIMD features of this CPU that the kernels can use (as the compiled code detects them)."""
    bits = _bconv.cpu_feature_bits()
    names = ("avx2", "avx512f", "avx512_vpopcntdq", "neon", "popcnt")
    return {name: bool(bits & (1 << i)) for i, name in enumerate(names)}


def simd_path() -> str:
    """The popcount path the kernels use: "avx512" (VPOPCNTDQ), "avx2", "neon" or "portable"."""
    return _path_name(_path)


def float_path() -> str:
    """The path the float kernels (direct, BWN and dense convs) run: the popcount path's, except AVX2 for
    AVX-512 where 512-bit vectors run as two 256-bit halves (AMD Zen 4), whose 8-lane float kernels ran the
    faces net's float layers 1.2-2x as fast there (the whole net 7%). Every FMA path gives the same bits, so
    this only changes the speed."""
    return _path_name(_float_path)


def _path_name(code: int) -> str:
    """The name of the path numbered ``code`` in :data:`_PATHS`."""
    return next(name for name, c in _PATHS.items() if c == code)


def _path_code(name: str) -> int:
    """The named path's code, if this CPU runs it."""
    if name not in _PATHS:
        raise ValueError(f"unknown SIMD path {name!r}; choose from {sorted(_PATHS)}")
    if not _bconv.path_supported(_PATHS[name]):
        raise ValueError(f"this CPU cannot run the {name!r} popcount path")
    return _PATHS[name]


def _force_path(name: str | None, float_name: str | None = None) -> None:
    """Run every kernel on the named path (None: the fastest this CPU has, and its float kernels' path), or
    the float kernels on ``float_name``. For tests and benches."""
    global _path, _float_path
    _path = _bconv.best_path() if name is None else _path_code(name)
    if float_name is not None:
        _float_path = _path_code(float_name)
    else:
        _float_path = _bconv.float_path(_path) if name is None else _path


_path = _bconv.best_path()
_float_path = _bconv.float_path(_path)
if os.environ.get("XNORVISION_SIMD") or os.environ.get("XNORVISION_FLOAT_SIMD"):
    _force_path(os.environ.get("XNORVISION_SIMD") or None, os.environ.get("XNORVISION_FLOAT_SIMD") or None)
