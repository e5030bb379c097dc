# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Binary-weight convolution (±1 weights, real input) by tables of signed sums (``xnv_bwn.h``).

One call = at most one parallel region over output rows (every image's), on ``nthreads`` threads (the
caller passes 1 unless the work outweighs waking the others); threads take rows from their own share first,
then from the others' (``xnv_steal.h``). Each thread keeps its input rows, tables and a block's results in
its own part of a scratch buffer. The epilogue applies scale, bias and an optional PReLU, and may write the
packed signs of the result beside it (a sign before a binary layer, fused at load time).
Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint8_t, uint64_t

import numpy as np

cimport numpy as cnp

from xnv_steal cimport (xnv_steal_half, xnv_steal_init, xnv_steal_set_late, xnv_steal_slots, xnv_steal_start,
                        xnv_steal_t)

cnp.import_array()

cdef extern from "xnv_bwn.h" nogil:
    ctypedef struct xnv_bwn_t:
        const float *x
        const uint8_t *pat
        const float *scale
        const float *bias
        const float *slope
        float *out
        uint64_t *bits
        int h, w_in, c, kh, kw, s, ph, pw, ho, wo, o
        xnv_steal_t *own
    ctypedef int (*xnv_bwn_rows_t)(const xnv_bwn_t *p, int64_t r0, int64_t r1, float *scratch)
    xnv_bwn_rows_t xnv_bwn_rows(int path)
    int64_t xnv_bwn_scratch_floats(const xnv_bwn_t *p)
    int XNV_BW_MAX_KH


MAX_KERNEL_ROWS = XNV_BW_MAX_KH


cdef struct BwnRun:
    xnv_bwn_t p
    xnv_bwn_rows_t rows
    int64_t nrows  # output rows of every image
    int threads  # the most threads a run may use: the scratch holds that many parts
    float *sp  # each thread's scratch, per_thread floats apart
    int64_t per_thread
    xnv_steal_t *steal  # per thread: its share of the rows not yet taken


cdef int _bwn_run(void *ctx, int nthreads) noexcept nogil:
    """Run a bound conv (a ``BwnRun``) on what its input holds now: 0, or 1 when its signs were asked for
    and a result is NaN. A native program's step (``xnorvision._program``)."""
    cdef BwnRun *r = <BwnRun *>ctx
    cdef int nt = <int>min(<int64_t>max(1, min(nthreads, r.threads)), r.nrows)
    cdef int t, nan = 0
    if nt <= 1:
        nan = r.rows(&r.p, 0, r.nrows, r.sp)
    else:
        xnv_steal_init(r.steal, nt, r.nrows)
        for t in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            nan += _thread_rows(r, t, nt)
    return 1 if nan else 0


cdef int _thread_rows(BwnRun *r, int t, int nt) noexcept nogil:
    """Thread ``t``'s rows, in its part of the scratch: its own share, then back halves of the others'."""
    cdef xnv_bwn_t mine = r.p
    cdef int nan = 0
    cdef int64_t a = r.nrows * t // nt, b = r.nrows * (t + 1) // nt
    mine.own = r.steal + t
    xnv_steal_start(t, nt)
    while True:
        nan += r.rows(&mine, a, b, r.sp + r.per_thread * t)
        if not xnv_steal_half(r.steal, t, nt, &a, &b):
            return nan


cdef class BwnCall:
    """A BWN conv bound to its arrays (``bind``): ``run()`` computes it again from what its input holds
    now, and ``entry()`` hands the same run to a native program, which calls it without Python."""
    cdef BwnRun r
    cdef list keep  # every array the run reads or writes
    cdef object x  # the input it reads now
    cdef readonly object out, bits

    def use_input(self, cnp.ndarray x):
        """Read ``x`` from now on: an array like the one bound (shape, dtype, C order: the caller checks)."""
        self.r.p.x = <const float *>cnp.PyArray_DATA(x)
        self.x = x

    def run(self):
        """The conv of the input's current values: ``out``, or ``(out, bits)`` with signs."""
        cdef int bad
        with nogil:
            bad = _bwn_run(&self.r, self.r.threads)
        if bad:
            raise ValueError("x contains NaN: its sign is undefined")
        return self.out if self.bits is None else (self.out, self.bits)

    def entry(self):
        """(address of the run function, address of its context): valid while this object lives."""
        return <size_t>&_bwn_run, <size_t>&self.r


def bind(cnp.ndarray x, cnp.ndarray pat, cnp.ndarray scale, cnp.ndarray bias, object slope, int kh, int kw,
         int stride, int ph, int pw, cnp.ndarray out, object bits, int path, int nthreads):
    """A ``BwnCall`` on up to ``nthreads`` threads: x float32 [N,H,W,C]; pat uint8
    [ceil(O/8), kh*kw*ceil(C/4), 8] (``kernels._BwnTables``); scale, bias (and slope, or None) float32
    [ceil(O/8) * 8]; out float32 [N,Ho,Wo,O]; bits uint64 [N,Ho,Wo,ceil(O/64)] or None."""
    cdef BwnCall call = BwnCall.__new__(BwnCall)
    cdef BwnRun *r = &call.r
    cdef xnv_bwn_t *p = &r.p
    p.x = <const float *>cnp.PyArray_DATA(x)
    p.pat = <const uint8_t *>cnp.PyArray_DATA(pat)
    p.scale = <const float *>cnp.PyArray_DATA(scale)
    p.bias = <const float *>cnp.PyArray_DATA(bias)
    p.slope = NULL if slope is None else <const float *>cnp.PyArray_DATA(<cnp.ndarray>slope)
    p.out = <float *>cnp.PyArray_DATA(out)
    p.bits = NULL if bits is None else <uint64_t *>cnp.PyArray_DATA(<cnp.ndarray>bits)
    p.h, p.w_in, p.c = x.shape[1], x.shape[2], x.shape[3]
    p.kh, p.kw, p.s, p.ph, p.pw = kh, kw, stride, ph, pw
    p.ho, p.wo, p.o = out.shape[1], out.shape[2], out.shape[3]
    p.own = NULL  # a thread of a run points its copy at its range
    r.rows = xnv_bwn_rows(path)
    r.nrows = <int64_t>x.shape[0] * p.ho
    cdef int nt = <int>min(<int64_t>max(1, nthreads), max(r.nrows, 1))
    r.threads = nt
    # each thread's part on cache lines of its own (written all the time), zeroed: the ring's padding
    r.per_thread = (xnv_bwn_scratch_floats(p) + 15) // 16 * 16
    scratch = np.zeros(nt * r.per_thread + 16, np.float32)
    r.sp = <float *>((<size_t>cnp.PyArray_DATA(scratch) + 63) & ~(<size_t>63))
    call.keep = [pat, scale, bias, slope, out, bits, scratch]
    r.steal = xnv_steal_slots(call.keep, nt)
    call.x, call.out, call.bits = x, out, bits
    return call


def late_thread(int64_t us):
    """For tests: from now on the last thread of each of this module's parallel regions starts ``us``
    microseconds late (0: on time), so that the others take its work (``xnv_steal.h``)."""
    xnv_steal_set_late(us)
