"""Runnable layers, one small class per op: binary work on :mod:`xnorvision.kernels`, float work in numpy.

Every layer takes its inputs as NHWC (or NC) arrays and returns one array. Layers that own their output
(float convolution, add, ...) size their buffers the first time they see an input shape and reuse them
on every later call with that shape, so a video stream allocates nothing per frame for them. A returned
buffer is therefore only valid until the next call: the executor copies graph outputs before handing them
out.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from xnorvision import kernels
from xnorvision.runtime import _threads


class Layer:
    """One graph node ready to run."""

    #: the index of an input whose array the bound kernel may write its (first) result over, when the
    #: runtime reads that input for the last time here (``runtime._native``); None: never
    writes_over: int | None = None

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound | None:
        """This layer's compiled kernel bound to planned arrays: its inputs ``xs`` and ``outs`` for its
        results, as a call returns them (a second one for fused signs). None: it runs through ``__call__``
        (see ``runtime._native``)."""
        return None


class _Buffers:
    """Scratch arrays keyed by input shape: allocated once per shape, reused afterwards.

    Only the most recent shapes are kept (an image pyramid's levels, say), so a stream of ever-new sizes
    does not grow memory without bound.
    """

    KEEP = 8

    def __init__(self) -> None:
        self._by_shape: OrderedDict[tuple[Any, ...], dict[str, np.ndarray]] = OrderedDict()

    def get(self, key: tuple[Any, ...], make: Any) -> dict[str, np.ndarray]:
        found = self._by_shape.get(key)
        if found is None:
            found = self._by_shape[key] = make()
            if len(self._by_shape) > self.KEEP:
                self._by_shape.popitem(last=False)
        self._by_shape.move_to_end(key)
        return found


_BLOCK_FLOATS = 1 << 18  # 1 MiB of im2col rows per block: inside a core's L2 (2 MiB here)
_GEMM_BLOCK_FLOATS = 1 << 17  # input floats per matmul of a 1x1 conv (see Conv2d.__call__)
_GRAIN_MACS = 1 << 23  # a thread's share must outweigh the ~50 us of handing it over
_GRAIN_FLOATS = 1 << 17  # likewise for elementwise work
_SHORT_ROW = 16  # outputs per pixel below which a broadcast bias add is slow


class Conv2d(Layer):
    """Float convolution (the first layer, shortcuts), one of two ways chosen at load time.

    * Few taps x channels or an image input (``groups == 1`` and ``kh * kw * C <= 64`` or ``C <= 4``: a
      first layer on RGB or grey, 3x3 or ResNet's 7x7; on AVX-512 also a 1x1 conv from up to 256 channels):
      :func:`kernels.conv2d_small`, a direct SIMD convolution with bias and ReLU fused, into a planned buffer
      (im2col would copy the image nine times over and hand BLAS its worst shape, K = 27 by N = 16).
      Except a 1x1 conv with few outputs from many channels (a detector's head, 64 -> 5; see
      :attr:`GEMM_MAX_OUTPUTS`) on other paths than AVX2: a dense layer over its pixels
      (``kernels.DensePlan``, several pixels a pass sharing each weight load) where the CPU has FMA, else a
      matmul.
    * Otherwise im2col into a planned buffer, then one BLAS matmul; grouped and depthwise convolutions
      contract per group. A 1x1 stride-1 conv needs no im2col: its input is the matmul's, in row blocks.

    ``weight`` is [O, kh, kw, C/groups]; ``relu`` is a following ReLU fused at load time, ``pool`` a
    following max pool (direct path only, see :meth:`takes_direct`; 2: 2x2 stride 2, 3: 3x3 stride 2 padding
    1): the output is then the pooled one, and the full-size conv output never goes to memory. ``bits``
    (direct path only) makes a call return ``(output, its packed signs)``: a following ``sign``, fused.
    """

    # kh*kw*C up to which the direct kernel is used. Measured with O = 16-64: up to 64 it beats im2col + BLAS
    # on the AVX2 (1.1-9x) and AVX-512 (1.3-10x) paths; by 128-288 the AVX2 path falls behind BLAS.
    DIRECT_MAX_TAPS = 64
    # Image inputs (C <= 4) take the direct kernel at any kernel size: im2col would copy each pixel kh*kw
    # times for a tiny contraction. ResNet-18's 7x7 stem (3 -> 64): 2.77 -> 1.84 ms on AVX-512, 2.30 on AVX2.
    DIRECT_MAX_IMAGE_CHANNELS = 4
    # A 1x1 conv with at most this many outputs, from at least GEMM_MIN_CHANNELS channels, is a matmul: the
    # direct kernel fills 16 output lanes a vector, so 5 outputs waste 11 of them. Measured on the layer
    # (AVX-512, one thread), 64 -> 5: 40x52 51 -> 25 us, 80x104 187 -> 108 us; 64 -> 16 ties and 64 -> 32
    # is the direct kernel's (71 vs 85 us at 40x52); from fewer channels BLAS's short rows lose (16 -> 5
    # at 40x52: 22 vs 28 us).
    # AVX2's direct kernel has its own tile for up to 8 outputs (8 pixels in the lanes, one vector a
    # channel) and takes such heads back: 0.7-0.9x the dense kernel's time on the faces net's three (64 or
    # 128 -> 5; 1 and 2 threads, alternating in one process), the same sums.
    GEMM_MAX_OUTPUTS = 7
    GEMM_MIN_CHANNELS = 32
    # On AVX-512 a 1x1 conv from up to this many channels too: the kernel splits its pixels among OpenMP
    # threads, where BLAS's matmul of ResNet-18's shortcuts (6.4M MACs each) stayed on one thread (a Python
    # thread's share must outweigh ~50 us of hand-over). One layer, 2 threads: 14x14 128 -> 256 111 -> 57
    # us, 7x7 256 -> 512 105 -> 69 us; one thread about even. AVX2's kernel loses to BLAS from 64 channels.
    DIRECT_MAX_1X1_CHANNELS_AVX512 = 256

    @classmethod
    def takes_direct(cls, weight_shape: tuple[int, ...], groups: int) -> bool:
        """Whether a conv of ``weight`` [O, kh, kw, C/groups] runs on the direct kernel (on this CPU's
        path: see :attr:`DIRECT_MAX_1X1_CHANNELS_AVX512`)."""
        o, kh, kw, cg = weight_shape
        if (kh, kw) == (1, 1) and o <= cls.GEMM_MAX_OUTPUTS and cg >= cls.GEMM_MIN_CHANNELS:
            return groups == 1 and kernels.float_path() == "avx2"
        if groups == 1 and (kh, kw) == (1, 1) and cg <= cls.DIRECT_MAX_1X1_CHANNELS_AVX512:
            return kernels.float_path() == "avx512" or cg <= cls.DIRECT_MAX_TAPS
        return groups == 1 and (kh * kw * cg <= cls.DIRECT_MAX_TAPS or cg <= cls.DIRECT_MAX_IMAGE_CHANNELS)

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None, stride: tuple[int, int],
                 pad: tuple[int, int], groups: int, relu: bool = False, pool: int | None = None,
                 bits: bool = False) -> None:
        self.o, self.kh, self.kw, self.cg = weight.shape
        self.stride, self.pad, self.groups, self.relu = stride, pad, groups, relu
        direct = self.takes_direct(weight.shape, groups)
        if pool is not None and (pool not in (2, 3) or not direct):
            raise ValueError(f"a fused max pool is 2 or 3 on a direct-kernel conv, got {pool!r}")
        if bits and not direct:
            raise ValueError("fused signs need a direct-kernel conv")
        self.pool, self.output = pool, "both" if bits else "float"
        g = groups
        # [kh*kw*Cg, O] for one matmul, or [G, kh*kw*Cg, O/G] per group; rows in im2col order (dy, dx, c).
        self.wmat = np.ascontiguousarray(weight.reshape(g, self.o // g, -1).transpose(0, 2, 1))
        self.bias = None if bias is None else bias.astype(np.float32)
        # [kh, kw, C, O] for the direct kernel, or None: im2col + BLAS
        self.direct = np.ascontiguousarray(weight.transpose(1, 2, 3, 0), np.float32) if direct else None
        self.plan = None if self.direct is None else self._direct_plan(self.direct, None, None)
        # The other 1x1 stride-1 convs (a detector's heads: few outputs from many channels) are a dense layer
        # over their pixels: the dense kernel where it runs, several pixels sharing each weight load.
        pointwise = (self.kh, self.kw, *stride, *pad, groups) == (1, 1, 1, 1, 0, 0, 1)
        dense = not direct and pointwise and not relu and kernels.dense_available()
        self.dense = (kernels.DensePlan(weight.reshape(self.o, -1).astype(np.float32), self.bias) if dense
                      else None)
        self.buffers = _Buffers()

    def _direct_plan(self, w: np.ndarray, lut: np.ndarray | None,
                     channels: tuple[int, ...] | None) -> kernels.DirectConvPlan:
        """The direct kernel's arguments, checked once (per input shape) instead of on every call."""
        return kernels.DirectConvPlan(w, self.bias, self.stride, self.pad, self.relu, lut=lut,
                                      channels=channels, pool=self.pool, output=self.output)

    def read_images(self, lut: np.ndarray, channels: tuple[int, ...] | None) -> bool:
        """Accept uint8 images, normalised by ``lut`` as the direct kernel reads them; False if it cannot.

        Only the direct path can (it converts each input row once, bit-exactly as ``cv2.LUT`` would): the
        model then skips a whole-image float pass (~0.2 ms on a 416x320 frame). ``channels`` maps each input
        channel to the image channel it reads, e.g. (2, 1, 0) for BGR images and an RGB model.
        """
        if self.direct is None:
            return False
        self.plan = self._direct_plan(self.direct, lut, channels)
        return True

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound | None:
        if self.dense is not None:
            x = xs[0]
            return self.dense.bind(x.reshape(-1, x.shape[-1]), outs[0].reshape(-1, self.o))
        return None if self.plan is None else self.plan.bind(xs[0], *outs)

    def _plan(self, n: int, h: int, w: int, workers: int) -> dict[str, np.ndarray]:
        (sh, sw), (ph, pw) = self.stride, self.pad
        ho, wo = (h + 2 * ph - self.kh) // sh + 1, (w + 2 * pw - self.kw) // sw + 1
        if self.direct is not None:
            if self.pool == 2:
                ho, wo = ho // 2, wo // 2
            elif self.pool == 3:
                ho, wo = (ho + 1) // 2, (wo + 1) // 2
            return {"out": np.empty((n, ho, wo, self.o), np.float32)}
        out = np.empty((n, ho, wo, self.o), np.float32)
        c = self.cg * self.groups
        # Few outputs (a detector head's 5): ``out += bias`` broadcasts over rows of 5 floats, 7 us of a
        # 40x32 head's 27; the bias repeated once per pixel is one flat add (1 us).
        bias_rows = (np.tile(self.bias, n * ho * wo) if self.bias is not None and self.o < _SHORT_ROW
                     else None)
        rows = ho if self.groups > 1 else max(1, min(ho, _BLOCK_FLOATS // (wo * self.kh * self.kw * c)))
        depth = n if self.groups > 1 else workers  # per-worker im2col blocks
        return {"padded": np.zeros((n, h + 2 * ph, w + 2 * pw, c) if ph or pw else (0,), np.float32),
                "cols": np.empty((depth, rows, wo, self.kh, self.kw * c), np.float32), "out": out,
                "bias_rows": bias_rows}

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        x = xs[0]
        n, h, w, c = x.shape
        workers = _threads.threads()
        buf = self.buffers.get((x.shape, workers), lambda: self._plan(n, h, w, workers))
        out = buf["out"]
        if self.plan is not None:  # uint8: raw images, see ``read_images``
            return self.plan(x if x.dtype == np.uint8 else np.ascontiguousarray(x, np.float32), out)
        if self.dense is not None:
            self.dense(_float32(x).reshape(-1, c), out.reshape(-1, self.o))
            return out
        (sh, sw), (ph, pw) = self.stride, self.pad
        if (self.kh, self.kw, sh, sw, ph, pw, self.groups) == (1, 1, 1, 1, 0, 0, 1):
            flat_x, flat_out = x.reshape(-1, c), out.reshape(-1, self.o)
            # BLAS slows down twice over past ~200K floats of input (40x52x128 -> 5: 100 us whole, 48 us in
            # blocks of 128K floats): blocks of _GEMM_BLOCK_FLOATS keep it on its fast path.
            rows, bias_rows = max(1, _GEMM_BLOCK_FLOATS // c), buf["bias_rows"]

            def pixels(_: int, start: int, stop: int) -> None:
                for r0 in range(start, stop, rows):
                    r1 = min(r0 + rows, stop)
                    self._gemm(flat_x[r0:r1], flat_out[r0:r1], bias_rows)

            _threads.run_chunks(pixels, len(flat_x), grain=max(1, _GRAIN_MACS // (c * self.o)))
            return out
        xp = buf["padded"] if ph or pw else x
        if ph or pw:
            xp[:, ph:ph + h, pw:pw + w] = x
        # A strided view holds the patches: a kernel row (kw * C floats) is contiguous in NHWC, so one
        # copy moves runs of kw * C floats (ten times faster than a copy per tap when C = 3).
        s0, s1, s2, s3 = xp.strides
        cols, ho, wo = buf["cols"], out.shape[1], out.shape[2]
        if self.groups > 1:
            np.copyto(cols, as_strided(xp, cols.shape, (s0, s1 * sh, s2 * sw, s1, s3), writeable=False))
            taps = cols.reshape(-1, self.kh * self.kw, self.groups, self.cg)
            wg = self.wmat.reshape(self.groups, self.kh * self.kw, self.cg, -1)
            out.reshape(len(taps), self.groups, -1)[:] = np.einsum("mtgc,gtco->mgo", taps, wg, optimize=True)
            self._epilogue(out, buf["bias_rows"])
            return out
        # Blocks of output rows keep the im2col block in cache while the matmul reads it.
        rows, bias_rows = cols.shape[1], buf["bias_rows"]
        blocks = [(i, r0) for i in range(n) for r0 in range(0, ho, rows)]

        def work(worker: int, start: int, stop: int) -> None:
            for i, r0 in blocks[start:stop]:
                r = min(rows, ho - r0)
                view = as_strided(xp[i:i + 1, r0 * sh:], (1, r, wo, self.kh, self.kw * c),
                                  (s0, s1 * sh, s2 * sw, s1, s3), writeable=False)
                block = cols[worker:worker + 1, :r]
                np.copyto(block, view)
                self._gemm(block.reshape(r * wo, -1), out[i, r0:r0 + r].reshape(r * wo, self.o), bias_rows)

        block_macs = rows * wo * self.kh * self.kw * c * self.o
        _threads.run_chunks(work, len(blocks), grain=max(1, _GRAIN_MACS // block_macs))
        return out

    def _gemm(self, a: np.ndarray, out: np.ndarray, bias_rows: np.ndarray | None) -> None:
        np.matmul(a, self.wmat[0], out=out)
        self._epilogue(out, bias_rows)

    def _epilogue(self, out: np.ndarray, bias_rows: np.ndarray | None) -> None:
        """Bias, then ReLU, on a contiguous block of rows. ``bias_rows``: the bias repeated for at least
        ``out``'s rows (a few outputs' bias, added flat), or None (broadcast ``self.bias``)."""
        if bias_rows is not None:
            flat = out.reshape(-1)  # a contiguous block of rows: a view
            flat += bias_rows[:flat.size]
        elif self.bias is not None:
            out += self.bias
        if self.relu:
            np.maximum(out, 0, out=out)


def _binary_padding(attrs: dict[str, Any]) -> str:
    if attrs.get("padding", "valid") == "valid":
        return "valid"
    return "same_one" if attrs.get("pad_value", 0) == 1 else "same_zero"


class BinaryConv2d(Layer):
    """XNOR convolution on packed bits with the fused ``scale * acc + bias`` (and sign, for bits output).

    Fused at load time (``_fold``): ``fused_add`` adds the second input (a Bi-Real shortcut), ``slope`` is a
    PReLU after that, and ``bits_output`` makes the call return ``(float result, its packed signs)``.
    """

    def __init__(self, weight: np.ndarray, scale: np.ndarray, bias: np.ndarray, c_in: int,
                 attrs: dict[str, Any], slope: np.ndarray | None = None) -> None:
        # weights interleaved for the microkernel and every fixed argument checked once, here: a call
        # checks only its input (see kernels.BinaryConvPlan)
        self.plan = kernels.BinaryConvPlan(
            kernels.BinaryConvWeights(np.ascontiguousarray(weight), c_in), scale, bias,
            attrs.get("stride", 1), _binary_padding(attrs),  # type: ignore[arg-type]
            "both" if "bits_output" in attrs else attrs.get("output", "float"),
            None if slope is None else np.ascontiguousarray(slope, np.float32), "fused_add" in attrs)
        # a Bi-Real block's float result over its shortcut: the epilogue reads each shortcut value, then
        # writes the result there (a 56x56x64 conv 0.93x the time: no second 800 KB array through the caches)
        if "fused_add" in attrs and self.plan.output != "bits":
            self.writes_over = 1

    def __call__(self, xs: list[np.ndarray]) -> Any:
        return self.plan(xs[0], _float32(xs[1]) if len(xs) > 1 else None)

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound:
        return self.plan.bind(xs[0], xs[1] if len(xs) > 1 else None, *outs)


def _float32(a: np.ndarray) -> np.ndarray:
    """``a`` as C-contiguous float32, copied only when it is not (float layers already hand that)."""
    return a if a.dtype.type is np.float32 and a.flags.c_contiguous else np.ascontiguousarray(a, np.float32)


class BwnConv2d(Layer):
    """Binary-weight convolution of a real input.

    Fused at load time (``_fold``), as the binary conv's epilogue: ``slope`` is a PReLU after it, and
    ``bits_output`` makes the call return ``(float result, its packed signs)`` for the binary layer next.
    The float result goes into a buffer planned per input shape: with a new one per call, the freed
    results of two layers let glibc hand the heap top back to the kernel, and the next layer's own result
    paid the page faults (the faces classifier's first binary conv 0.075 -> 0.129 ms per batch).
    """

    def __init__(self, weight: np.ndarray, scale: np.ndarray, bias: np.ndarray, c_in: int,
                 attrs: dict[str, Any], slope: np.ndarray | None = None) -> None:
        # every fixed argument checked and the ±scale weights built once, here (see kernels.BwnConvPlan)
        self.plan = kernels.BwnConvPlan(
            weight, c_in, scale, bias, attrs.get("stride", 1), attrs.get("padding", "valid"),
            None if slope is None else np.ascontiguousarray(slope, np.float32),
            "both" if "bits_output" in attrs else "float")
        self.buffers = _Buffers()

    def _plan(self, n: int, h: int, w: int) -> np.ndarray:
        _, kh, kw, _ = self.plan.w.shape
        s = self.plan.stride
        ph, pw = ((kh - 1) // 2, (kw - 1) // 2) if self.plan.padding == "same" else (0, 0)
        ho, wo = (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1
        return np.empty((n, max(ho, 0), max(wo, 0), self.plan.w.shape[0]), np.float32)

    def __call__(self, xs: list[np.ndarray]) -> Any:
        x = xs[0]
        return self.plan(x, self.buffers.get(x.shape, lambda: {"out": self._plan(*x.shape[:3])})["out"])

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound | None:
        return self.plan.bind(xs[0], *outs)


class Sign(Layer):
    """Float -> packed bits (1 where negative): the entry into a chain of binary layers."""

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        return kernels.pack_bits(xs[0])


class Affine(Layer):
    """``x * a + b`` per channel: a batch norm that had no neighbour to fold into."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a.astype(np.float32), b.astype(np.float32)

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        out = xs[0] * self.a
        out += self.b
        return out


class Pool(Layer):
    """Max pooling (float or bits) and average pooling (float) on the kernels; with ``side_by_side`` (float
    pools of the same input and window that a concat read, folded in at load) every one of them, their
    results side by side along the channels as the concat had them."""

    def __init__(self, op: str, bits: bool, attrs: dict[str, Any]) -> None:
        k = attrs["kernel"]
        self.args = (k, attrs.get("stride", k), attrs.get("padding", 0))
        self.op: Any = "avgpool2d" if op == "avgpool2d" else "maxpool2d_bits" if bits else "maxpool2d"
        self.ops: tuple[Any, ...] = (self.op, *attrs.get("side_by_side", ()))
        self.fn = getattr(kernels, self.op)

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        if len(self.ops) > 1:
            return kernels.pools_side_by_side(self.ops, xs[0], *self.args)
        return self.fn(xs[0], *self.args)

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound:
        return kernels.pool_bind(self.ops, xs[0], *self.args, outs[0])


class GlobalAvgPool(Layer):
    """Mean over each image's pixels, [N, H, W, C] -> [N, C]: the pool kernel with a window the image's size
    (float32 sums in row-major order, then one division; numpy's mean sums pairwise, in its own order)."""

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        x = xs[0]
        return kernels.avgpool2d(x, x.shape[1:3], x.shape[1:3]).reshape(x.shape[0], x.shape[3])

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound:
        x, out = xs[0], outs[0]
        window = x.shape[1:3]
        return kernels.pool_bind("avgpool2d", x, window, window, 0, out.reshape(len(out), 1, 1, -1))


class Concat(Layer):
    """Inputs side by side along their last axis (NHWC: channels)."""

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs, axis=-1)

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound:
        return kernels.join_bind(xs, outs[0])


class Flatten(Layer):
    """[N, ...] -> [N, rest], in NHWC order."""

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        return np.ascontiguousarray(xs[0]).reshape(xs[0].shape[0], -1)

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound:
        return kernels.join_bind([xs[0].reshape(len(xs[0]), -1)], outs[0])


class Linear(Layer):
    """Float fully-connected layer, ``weight`` [O, K]: the dense kernel (``kernels.DensePlan``: the same bits
    on every CPU with fused multiply-adds, int8 weights kept int8), else BLAS."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None) -> None:
        weight = np.ascontiguousarray(weight, np.float32)
        self.plan = kernels.DensePlan(weight, bias) if kernels.dense_available() else None
        self.wt = np.ascontiguousarray(weight.T) if self.plan is None else None
        self.bias = bias

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        if self.plan is not None:
            return self.plan(_float32(xs[0]))
        y = xs[0] @ self.wt
        if self.bias is not None:
            y += self.bias
        return y

    def bind(self, xs: list[np.ndarray], outs: list[np.ndarray]) -> kernels.Bound | None:
        return None if self.plan is None else self.plan.bind(xs[0], outs[0])


class BinaryLinear(Layer):
    """XNOR fully-connected layer on packed bits: ``scale * acc + bias``."""

    def __init__(self, weight: np.ndarray, scale: np.ndarray, bias: np.ndarray, k: int) -> None:
        self.weight, self.scale, self.bias, self.k = weight, scale, bias, k

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        acc = kernels.xnor_gemm(xs[0], self.weight, self.k)
        return (acc * self.scale + self.bias).astype(np.float32)


class Add(Layer):
    """Residual add into a planned buffer."""

    def __init__(self) -> None:
        self.buffers = _Buffers()

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        out = self.buffers.get(xs[0].shape, lambda: {"out": np.empty(xs[0].shape, np.float32)})["out"]
        a, b, flat = xs[0].reshape(-1), xs[1].reshape(-1), out.reshape(-1)

        def part(_: int, start: int, stop: int) -> None:
            np.add(a[start:stop], b[start:stop], out=flat[start:stop])

        _threads.run_chunks(part, len(flat), grain=_GRAIN_FLOATS)
        return out


class Func(Layer):
    """A stateless float op (ReLU, softmax, flatten, ...), given as a function of the input list."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        return self.fn(xs)


class PReLU(Layer):
    """``v if v >= 0 else a * v`` per channel, ``v`` the input or, with two inputs, their sum.

    The two-input form is a residual add fused at load time (``prelu(conv + shortcut)``, a Bi-Real block):
    one pass of the compiled kernel into a planned buffer instead of numpy's add, multiply and maximum.
    """

    def __init__(self, slope: np.ndarray) -> None:
        self.slope = np.ascontiguousarray(slope, np.float32)
        self.buffers = _Buffers()

    def __call__(self, xs: list[np.ndarray]) -> np.ndarray:
        x = xs[0]
        out = self.buffers.get(x.shape, lambda: {"out": np.empty(x.shape, np.float32)})["out"]
        return kernels.prelu(x, self.slope, xs[1] if len(xs) > 1 else None, out)
