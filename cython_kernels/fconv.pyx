# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Direct float32 convolution for few taps x channels: a detector's first layer (3x3 x 3 channels -> 16).

im2col + GEMM is a poor fit there (K = 27, N = 16, and the patch matrix is 9x the image); the SIMD tiles
of ``xnv_fconv.h`` read the NHWC input in place instead. One call = at most one parallel region, over
output rows, with ``nthreads`` threads (the caller passes 1 unless the work outweighs waking the others);
a batch of small images runs tiles across the images instead, over output positions (``xnv_fconv_batched``).
The epilogue may apply a PReLU and write the packed signs of the result beside it (a binary-weight conv
before a binary layer, fused at load time): each thread packs its rows (or tiles) while they are in cache.
A uint8 image is read through a table (``lut``, ``chan``): each thread converts the input rows it needs
into its part of a scratch buffer, as float rows that the same tiles read. With a fused max pool
(``pool=2``: 2x2 stride 2; ``pool=3``: 3x3 stride 2, padding 1) the rows split among threads are pooled
rows, each thread computing the conv rows they need into its part of that buffer.
A 1x1 stride-1 conv of float input splits its pixels instead (every image's, as one row) into contiguous
ranges, each run as a one-row image of its own, so its tiles run full whatever the rows' length, and a conv
of few rows (7x7) still has work for every thread. Threads take rows, positions or ranges from their own
share first and then from the others' (``xnv_steal.h``).
On AVX2 and AVX-512 (the same 8-lane code) a 7x7 stride-2 conv of few channels (ResNet's stem) runs
Winograd's algorithm along its rows and down its columns (``xnv_fc_wino.h``, tables from
``xnorvision._winograd``): 117 multiplies a channel for 2 x 4 outputs where the direct tiles take 392,
other rounding.
Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

import numpy as np

from xnorvision import _winograd

cimport numpy as cnp

from xnv_steal cimport (xnv_steal_half, xnv_steal_init, xnv_steal_one, xnv_steal_set_late, xnv_steal_slots,
                        xnv_steal_start, xnv_steal_t)

cnp.import_array()

cdef extern from "xnv_fconv.h" nogil:
    ctypedef int (*xnv_pack_f32_t)(const float *x, int64_t c, uint64_t *out)
    ctypedef struct xnv_fc_u8v_t:
        pass
    ctypedef struct xnv_fconv_t:
        const float *x
        const float *w
        const float *bias
        float *out
        int h, w_in, c, kh, kw, sh, sw, ph, pw, ho, wo, o, relu, pool, n
        int64_t ps
        const float *slope
        uint64_t *bits
        xnv_pack_f32_t pack
        const uint8_t *x8
        int cx, rows
        const int32_t *chan
        const float *lut
        const xnv_fc_u8v_t *u8v
        const float *wino
        xnv_steal_t *own
    ctypedef int (*xnv_fconv_rows_t)(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch)
    int xnv_fc_u8_nrows(int kh, int sh, int64_t row_floats)
    int64_t xnv_fc_scratch_floats(const xnv_fconv_t *p)
    void xnv_fc_u8_table(const float *lut, int c, float *dst)
    const xnv_fc_u8v_t *xnv_fc_u8_vec_bind(const float *t, const int32_t *chan, int c, int cx, int vector,
                                           xnv_fc_u8v_t *v)
    xnv_fconv_rows_t xnv_fconv_rows(int path)
    xnv_fconv_rows_t xnv_fconv_batch(int path)
    int xnv_fconv_batched(const xnv_fconv_t *p, int path)
    int xnv_fc_tile_pixels(int path, int o)
    xnv_pack_f32_t xnv_pack_f32(int path)
    int xnv_fconv_path(int path)
    int xnv_fconv_fused(int path)
    int xnv_wg_fits(const xnv_fconv_t *p, int path)
    ctypedef struct xnv_dense_t:
        const float *x
        const float *wf
        const int8_t *wq
        const float *scale
        const float *bias
        float *out
        int64_t rows, k
        int o, panels
    ctypedef void (*xnv_dense_fn)(const xnv_dense_t *d, int p0, int p1)
    xnv_dense_fn xnv_dense(int path)
    enum:
        XNV_DN_GROUP


def conv(cnp.ndarray x, cnp.ndarray w, object bias, int sh, int sw, int ph, int pw, bint relu,
         cnp.ndarray out, int path, int nthreads, object lut=None, object chan=None, int pool=0,
         object slope=None, object bits=None):
    """x float32 [N,H,W,C], w float32 [kh,kw,C,O], bias float32 [O] or None -> out float32 [N,Ho,Wo,O].

    Or x uint8 [N,H,W,Cx] with lut float32 [256, C] (or [1, 256, C]; C-contiguous) and chan int32 [C]
    (values in [0, Cx)): input channel k of a pixel is ``lut[x[..., chan[k]], k]``. ``pool=2``: out is
    [N, Ho // 2, Wo // 2, O], the 2x2 stride-2 max pool of the conv (Ho, Wo >= 2); ``pool=3``: out is
    [N, (Ho + 1) // 2, (Wo + 1) // 2, O], its 3x3 stride-2 max pool with padding 1. ``slope`` float32 [O]:
    a PReLU after the sum (and ReLU); ``bits`` uint64 (out's shape, ceil(O/64) words a pixel): receives the
    packed signs of out, a ValueError if out holds NaN (as pack_bits).
    """
    bind(x, w, bias, sh, sw, ph, pw, relu, out, path, nthreads, lut, chan, pool, slope, bits).run()
    return out


# the most pixels of one range: a row's width is an int (a module global, so that a test can make it small)
_MAX_RANGE_PIXELS = 1 << 30

cdef enum:
    _PARTS = 4  # ranges a thread, where a conv's pixels (or a dense layer's rows) are split into ranges


cdef struct ConvRun:
    xnv_fconv_t p
    xnv_fconv_rows_t rows
    int64_t nrows  # items: output positions of every image (batched), else rows (pooled rows with pool)
    int threads  # the most threads a run may use: the scratch holds that many parts
    float *sp  # each thread's scratch, per_thread floats apart, or NULL
    int64_t per_thread
    xnv_fconv_t *parts  # a 1x1 stride-1 conv of float input: its pixel ranges (NULL otherwise)
    int64_t most  # the most pixels of one range
    xnv_steal_t *steal  # per thread: its share of the ranges not yet taken


cdef int _conv_run(void *ctx, int nthreads) noexcept nogil:
    """Run a bound conv (a ``ConvRun``) on what its input holds now: 0, or 1 when its signs were asked for
    and a result is NaN. A native program's step (``xnorvision._program``)."""
    cdef ConvRun *r = <ConvRun *>ctx
    cdef int nt = <int>min(<int64_t>max(1, min(nthreads, r.threads)), r.nrows)
    cdef int t, nan = 0
    cdef const xnv_fconv_t *pp = &r.p
    if r.parts != NULL:
        return _pixel_ranges(r, nt)
    if nt == 1:
        nan = r.rows(pp, 0, r.nrows, r.sp)
    else:
        xnv_steal_init(r.steal, nt, r.nrows)
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            nan += _thread_rows(r, t, nt)
    return 1 if nan else 0


cdef int _thread_rows(ConvRun *r, int t, int nt) noexcept nogil:
    """Thread ``t``'s rows, in its part of the scratch: its own share, then back halves of the others'. Its
    driver takes each row before computing it (``xnv_fconv_t.own``), so a thread that runs faster takes the
    rest of a slower one's share (``xnv_steal.h``) while the slower keeps its rings from row to row."""
    cdef xnv_fconv_t mine = r.p
    cdef int nan = 0
    cdef int64_t a = r.nrows * t // nt, b = r.nrows * (t + 1) // nt
    cdef float *sp = r.sp + r.per_thread * t if r.sp != NULL else NULL
    mine.own = r.steal + t
    xnv_steal_start(t, nt)
    while True:
        nan += r.rows(&mine, a, b, sp)
        if not xnv_steal_half(r.steal, t, nt, &a, &b):
            return nan


cdef int _pixel_ranges(ConvRun *r, int nt) noexcept nogil:
    """A 1x1 stride-1 conv over its ``nrows`` pixels on ``nt`` threads, each a contiguous range of them run
    as a one-row image (a copy of the conv with its pointers moved to the range), at most ``most`` each."""
    cdef const xnv_fconv_t *p = &r.p
    cdef int64_t npix = r.nrows, a, t
    cdef int64_t nparts = max(<int64_t>nt * _PARTS if nt > 1 else 1, (npix + r.most - 1) // r.most)
    cdef xnv_fconv_t *parts = r.parts
    cdef int nan = 0, words = (p.o + 63) // 64
    nparts = min(nparts, npix)
    for t in range(nparts):
        a = npix * t // nparts
        parts[t] = p[0]
        parts[t].n = parts[t].h = parts[t].ho = 1
        parts[t].w_in = parts[t].wo = <int>(npix * (t + 1) // nparts - a)
        parts[t].x = p.x + a * p.c
        parts[t].out = p.out + a * p.o
        parts[t].bits = NULL if p.bits == NULL else p.bits + a * words
    if nt == 1:
        for t in range(nparts):
            nan += r.rows(parts + t, 0, 1, NULL)
    else:
        xnv_steal_init(r.steal, nt, nparts)
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            nan += _thread_parts(r, <int>t, nt, nparts)
    return 1 if nan else 0


cdef int _thread_parts(ConvRun *r, int t, int nt, int64_t nparts) noexcept nogil:
    """Thread ``t``'s pixel ranges (of ``nparts``): its own share of them, then back halves of the others'."""
    cdef int nan = 0
    cdef int64_t at = nparts * t // nt, k
    xnv_steal_start(t, nt)
    k = xnv_steal_one(r.steal, t, nt, &at)
    while k >= 0:
        nan += r.rows(r.parts + k, 0, 1, NULL)
        k = xnv_steal_one(r.steal, t, nt, &at)
    return nan


cdef class ConvCall:
    """A direct conv bound to its arrays (``bind``): ``run()`` computes it again from what its input holds
    now, and ``entry()`` hands the same run to a native program, which calls it without Python."""
    cdef ConvRun r
    cdef list keep  # every array the run reads or writes
    cdef object x  # the input it reads now
    cdef readonly object out, bits

    def __cinit__(self):
        self.r.parts = NULL

    def use_input(self, cnp.ndarray x):
        """Read ``x`` from now on: an array like the one bound (shape, dtype, C order: the caller checks)."""
        if self.r.p.x8 != NULL:
            self.r.p.x8 = <const uint8_t *>cnp.PyArray_DATA(x)
        else:
            self.r.p.x = <const float *>cnp.PyArray_DATA(x)
        self.x = x

    def __dealloc__(self):
        free(self.r.parts)

    @property
    def vector_u8(self) -> bool:
        """Whether its uint8 input converts by vectors (an affine table on AVX2, ``xnv_fc_u8v_t``)."""
        return self.r.p.u8v != NULL

    def run(self):
        """The conv of the input's current values: ``out``, or ``(out, bits)`` with signs."""
        cdef int bad
        with nogil:
            bad = _conv_run(&self.r, self.r.threads)
        if bad:
            raise ValueError("x contains NaN: its sign is undefined")
        return self.out if self.bits is None else (self.out, self.bits)

    def entry(self):
        """(address of the run function, address of its context): valid while this object lives."""
        return <size_t>&_conv_run, <size_t>&self.r


def bind(cnp.ndarray x, cnp.ndarray w, object bias, int sh, int sw, int ph, int pw, bint relu,
         cnp.ndarray out, int path, int nthreads, object lut=None, object chan=None, int pool=0,
         object slope=None, object bits=None):
    """``conv``'s arguments bound once into a ``ConvCall`` that runs on up to ``nthreads`` threads."""
    cdef ConvCall call = ConvCall.__new__(ConvCall)
    cdef ConvRun *r = &call.r
    cdef xnv_fconv_t *p = &r.p
    cdef int n = x.shape[0]
    cdef int c = w.shape[2]
    cdef cnp.ndarray scratch = None
    p.x = NULL
    p.x8 = NULL
    p.w = <const float *>cnp.PyArray_DATA(w)
    p.bias = NULL
    if bias is not None:
        p.bias = <float *>cnp.PyArray_DATA(<cnp.ndarray>bias)
    p.out = <float *>cnp.PyArray_DATA(out)
    p.h, p.w_in, p.c = x.shape[1], x.shape[2], c
    p.kh, p.kw, p.o = w.shape[0], w.shape[1], w.shape[3]
    p.sh, p.sw, p.ph, p.pw = sh, sw, ph, pw
    p.ho, p.wo = (p.h + 2 * ph - p.kh) // sh + 1, (p.w_in + 2 * pw - p.kw) // sw + 1
    p.relu = relu
    p.pool = pool
    p.n = n
    p.ps = <int64_t>sw * c
    p.slope = NULL if slope is None else <const float *>cnp.PyArray_DATA(<cnp.ndarray>slope)
    p.bits = NULL if bits is None else <uint64_t *>cnp.PyArray_DATA(<cnp.ndarray>bits)
    p.pack = xnv_pack_f32(path)
    p.wino = NULL
    p.u8v = NULL
    p.own = NULL  # a thread of a run points its copy at its range
    # a 1x1 stride-1 conv of float input: pixel ranges, not rows (see the module's docstring)
    cdef bint pixels = (lut is None and pool == 0 and p.kh == 1 and p.kw == 1 and sh == 1 and sw == 1
                        and ph == 0 and pw == 0)
    cdef bint batched = lut is None and not pixels and xnv_fconv_batched(p, path)
    r.rows = xnv_fconv_batch(path) if batched else xnv_fconv_rows(path)
    cdef cnp.ndarray wino = None  # a 7x7 stride-2 stem's Winograd tables (xnv_fc_wino.h)
    if xnv_wg_fits(p, path):  # never batched (xnv_fconv_batched) nor 1x1
        wino = _winograd.conv_tables(w)
        p.wino = <const float *>cnp.PyArray_DATA(wino)
    r.nrows = <int64_t>p.ho * p.wo if batched else <int64_t>n * out.shape[1]
    if pixels:  # items: pixels
        r.nrows = <int64_t>n * p.ho * p.wo
    cdef int nt = <int>min(<int64_t>max(1, nthreads), r.nrows)
    r.threads = nt
    cdef float *sp = NULL
    cdef int64_t table = 0
    if lut is None:
        p.x = <const float *>cnp.PyArray_DATA(x)
    else:
        p.x8 = <const uint8_t *>cnp.PyArray_DATA(x)
        p.cx = x.shape[3]
        p.rows = xnv_fc_u8_nrows(p.kh, p.sh, <int64_t>p.w_in * c)
        p.chan = <const int32_t *>cnp.PyArray_DATA(<cnp.ndarray>chan)
        table = 256 * c + (sizeof(xnv_fc_u8v_t) + 63) // 64 * 16  # the look-ups, then the vectors'
    # the table [c][256] (uint8 input), then each thread's scratch (uint8 input rows, pool's conv rows; a
    # batched tile's output), each on cache lines of its own: scratch is written all the time, and a line
    # shared with the next thread's part would pass between the two cores on every write
    r.per_thread = <int64_t>xnv_fc_tile_pixels(path, p.o) * p.o if batched else xnv_fc_scratch_floats(p)
    r.per_thread = (r.per_thread + 15) // 16 * 16
    if table or r.per_thread:
        scratch = np.empty(table + nt * r.per_thread + 16, np.float32)
        sp = <float *>((<size_t>cnp.PyArray_DATA(scratch) + 63) & ~(<size_t>63))
    if table:
        xnv_fc_u8_table(<const float *>cnp.PyArray_DATA(<cnp.ndarray>lut), c, sp)
        p.lut = sp
        p.u8v = xnv_fc_u8_vec_bind(sp, p.chan, c, p.cx, xnv_fconv_path(path) != 0,
                                   <xnv_fc_u8v_t *>(sp + 256 * c))
        sp += table
    r.sp = sp if r.per_thread else NULL
    if pixels:
        r.most = _MAX_RANGE_PIXELS
        r.parts = <xnv_fconv_t *>malloc(max(<int64_t>nt * _PARTS, (r.nrows + r.most - 1) // r.most)
                                        * sizeof(xnv_fconv_t))
        if r.parts == NULL:
            raise MemoryError()
    call.keep = [w, bias, out, lut, chan, slope, bits, scratch, wino]
    r.steal = xnv_steal_slots(call.keep, nt)
    call.x, call.out, call.bits = x, out, bits
    return call


def batched(int n, int h, int w, int c, int kh, int kw, int sh, int sw, int ph, int pw, int o, int path) -> bool:
    """Whether ``conv`` of float input of this geometry (no pool) runs tiles across the batch."""
    cdef xnv_fconv_t p
    p.n, p.h, p.w_in, p.c, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.o = n, h, w, c, kh, kw, sh, sw, ph, pw, o
    p.ho, p.wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    p.x8 = NULL
    p.pool = 0
    return bool(xnv_fconv_batched(&p, path))


def winograd(int c, int kh, int kw, int sh, int sw, int ph, int o, int path) -> bool:
    """Whether ``conv`` of this geometry runs Winograd's algorithm on the path (other rounding than the
    direct tiles': a sum depends on its tile of 2 x 4 outputs and on every input that tile reads)."""
    cdef xnv_fconv_t p
    p.c, p.kh, p.kw, p.sh, p.sw, p.ph, p.o = c, kh, kw, sh, sw, ph, o
    return bool(xnv_wg_fits(&p, path))


def path(int path) -> int:
    """The path ``conv`` runs for the kernels' popcount path (AVX2 without FMA, NEON: portable)."""
    return xnv_fconv_path(path)


def fused(int path) -> bool:
    """Whether ``conv`` sums with fused multiply-adds on this path (then every such path agrees bit for bit)."""
    return bool(xnv_fconv_fused(path))


def dense_path(int path) -> bool:
    """Whether the dense kernel runs on this path (it needs fused multiply-adds: not x86's portable path)."""
    return xnv_dense(path) != NULL


cdef struct DenseRun:
    xnv_dense_t d
    xnv_dense_fn fn
    int threads
    xnv_dense_t *parts  # ranges of rows, when the rows are split (few groups of panels, many rows)
    xnv_steal_t *steal  # per thread: its share of the groups (or ranges of rows) not yet taken


cdef int _dense_run(void *ctx, int nthreads) noexcept nogil:
    """Run a bound dense layer (a ``DenseRun``): whole groups of panels at a time, or, with fewer groups than
    threads (a detector's 1x1 head: one panel, thousands of pixels), ranges of rows. Always 0."""
    cdef DenseRun *r = <DenseRun *>ctx
    cdef int groups = (r.d.panels + XNV_DN_GROUP - 1) // XNV_DN_GROUP
    cdef int nt = max(1, min(nthreads, r.threads)), t
    cdef int64_t a, k, nparts
    if nt > 1 and groups < nt and r.d.rows >= nt:
        nparts = min(r.d.rows, <int64_t>nt * _PARTS)
        for k in range(nparts):
            a = r.d.rows * k // nparts
            r.parts[k] = r.d
            r.parts[k].rows = r.d.rows * (k + 1) // nparts - a
            r.parts[k].x = r.d.x + a * r.d.k
            r.parts[k].out = r.d.out + a * r.d.o
        xnv_steal_init(r.steal, nt, nparts)
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            _dense_thread(r, t, nt, nparts, True)
        return 0
    nt = min(nt, groups)
    if nt == 1:
        r.fn(&r.d, 0, r.d.panels)
    else:
        xnv_steal_init(r.steal, nt, groups)
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            _dense_thread(r, t, nt, groups, False)
    return 0


cdef void _dense_thread(DenseRun *r, int t, int nt, int64_t units, bint by_rows) noexcept nogil:
    """Thread ``t``'s units (of ``units``: ranges of rows, or groups of panels): its own share of them, then
    back halves of the others' (``xnv_steal.h``)."""
    cdef int64_t at = units * t // nt, k
    xnv_steal_start(t, nt)
    k = xnv_steal_one(r.steal, t, nt, &at)
    while k >= 0:
        if by_rows:
            r.fn(r.parts + k, 0, r.d.panels)
        else:
            r.fn(&r.d, <int>k * XNV_DN_GROUP, <int>min((k + 1) * XNV_DN_GROUP, <int64_t>r.d.panels))
        k = xnv_steal_one(r.steal, t, nt, &at)


cdef class DenseCall:
    """A dense layer bound to its arrays (``dense_bind``): ``run()`` computes it again from what its input
    holds now, and ``entry()`` hands the same run to a native program."""
    cdef DenseRun r
    cdef list keep
    cdef object x  # the input it reads now
    cdef readonly object out

    def __cinit__(self):
        self.r.parts = NULL

    def use_input(self, cnp.ndarray x):
        """Read ``x`` from now on: an array like the one bound (shape, dtype, C order: the caller checks)."""
        self.r.d.x = <const float *>cnp.PyArray_DATA(x)
        self.x = x

    def __dealloc__(self):
        free(self.r.parts)

    def run(self):
        """The layer of the input's current values, in ``out``."""
        with nogil:
            _dense_run(&self.r, self.r.threads)
        return self.out

    def entry(self):
        """(address of the run function, address of its context): valid while this object lives."""
        return <size_t>&_dense_run, <size_t>&self.r


def dense_bind(cnp.ndarray x, object wf, object wq, object scale, object bias, cnp.ndarray out, int path,
               int nthreads):
    """x float32 [rows, k], weights in groups of panels of 16 outputs as ``xnv_fconv.h`` reads them (float32
    ``wf``, or int8 ``wq`` with float32 ``scale`` [panels * 16]), ``bias`` float32 [panels * 16] or None
    -> out float32 [rows, o].
    Arguments checked by the caller; the path must have the kernel (``dense_path``)."""
    cdef DenseCall call = DenseCall.__new__(DenseCall)
    cdef xnv_dense_t *d = &call.r.d
    call.r.fn = xnv_dense(path)
    if call.r.fn == NULL:
        raise ValueError("no dense kernel on this path")
    call.r.threads = max(1, nthreads)
    call.r.parts = <xnv_dense_t *>malloc(call.r.threads * _PARTS * sizeof(xnv_dense_t))
    if call.r.parts == NULL:
        raise MemoryError()
    d.x = <const float *>cnp.PyArray_DATA(x)
    d.wf = NULL if wf is None else <const float *>cnp.PyArray_DATA(<cnp.ndarray>wf)
    d.wq = NULL if wq is None else <const int8_t *>cnp.PyArray_DATA(<cnp.ndarray>wq)
    d.scale = NULL if scale is None else <const float *>cnp.PyArray_DATA(<cnp.ndarray>scale)
    d.bias = NULL if bias is None else <const float *>cnp.PyArray_DATA(<cnp.ndarray>bias)
    d.out = <float *>cnp.PyArray_DATA(out)
    d.rows, d.k = x.shape[0], x.shape[1]
    d.o = out.shape[1]
    d.panels = (d.o + 15) // 16
    call.keep, call.x, call.out = [wf, wq, scale, bias, out], x, out
    call.r.steal = xnv_steal_slots(call.keep, call.r.threads)
    return call


def late_thread(int64_t us):
    """For tests: from now on the last thread of each of this module's parallel regions starts ``us``
    microseconds late (0: on time), so that the others take its work (``xnv_steal.h``)."""
    xnv_steal_set_late(us)


def steal_trace(int64_t n, int nthreads, double unit_s):
    """The thread that ran each of ``n`` units of ``unit_s`` seconds (a spin), shared as this module's
    parallel regions share their rows, pixel ranges and groups (``xnv_steal_one``): int32 [n], -1 for a
    unit no thread ran. With ``late_thread``, a test of how the others take a late thread's work."""
    cdef cnp.ndarray out = np.full(n, -1, np.int32)
    cdef int32_t *who = <int32_t *>cnp.PyArray_DATA(out)
    cdef int nt = max(1, nthreads), t
    cdef list keep = []
    cdef xnv_steal_t *steal = xnv_steal_slots(keep, nt)
    xnv_steal_init(steal, nt, n)
    for t in prange(nt, nogil=True, num_threads=nt, schedule="static", chunksize=1):
        _trace_thread(steal, t, nt, n, unit_s, who)
    return out


cdef void _trace_thread(xnv_steal_t *steal, int t, int nt, int64_t n, double unit_s,
                        int32_t *who) noexcept nogil:
    cdef int64_t at = n * t // nt, k
    cdef timespec start, now
    xnv_steal_start(t, nt)
    k = xnv_steal_one(steal, t, nt, &at)
    while k >= 0:
        clock_gettime(CLOCK_MONOTONIC, &start)
        now = start
        while (now.tv_sec - start.tv_sec) + 1e-9 * (now.tv_nsec - start.tv_nsec) < unit_s:
            clock_gettime(CLOCK_MONOTONIC, &now)
        who[k] = t
        k = xnv_steal_one(steal, t, nt, &at)
