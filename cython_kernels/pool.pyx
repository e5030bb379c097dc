# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Pooling on NHWC tensors: max of packed ±1 bits (a bitwise AND), float max and average.

Padded cells never take part: the window is clipped to the image (so the average counts real cells
only). Each window is folded in row-major order from its first real cell (see ``xnv_pool.h``): max keeps
the earlier value unless a later one is strictly greater, the mean adds in float32 and divides by the
count. The rows run on SSE2 / NEON over channels, with an unrolled path for full 2x2 windows. Several pools
of one input (a downsampling shortcut's average and max) may run as one call that writes them side by side
into one tensor, as their channel concat would: each output row is every pool's in turn, the input rows
still in cache for the second. Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t

cimport numpy as cnp

import numpy as np

cnp.import_array()


cdef extern from "xnv_pool.h" nogil:
    void xnv_pool_row(int op, const void *x, void *out, int h, int w, int64_t c, int kh, int kw, int sh,
                      int sw, int ph, int pw, int ho, int wo, int64_t row, int64_t oc)


cdef enum:
    _MAX_OPS = 4

#: pools one call writes side by side at most
MAX_OPS = _MAX_OPS


def pool(cnp.ndarray x, list ops, int kh, int kw, int sh, int sw, int ph, int pw, int ho, int wo, int nthreads):
    """The pools ``ops`` side by side (see ``bind``): 0, AND of packed words (max of ±1); 1, float max; 2,
    float mean over real cells."""
    return bind(x, ops, kh, kw, sh, sw, ph, pw, ho, wo, nthreads).run()


cdef struct PoolRun:
    int nops, h, w, kh, kw, sh, sw, ph, pw, ho, wo, threads
    int ops[_MAX_OPS]
    int64_t c, rows
    const void *src
    char *dst
    int64_t slot  # bytes from one pool's channels to the next one's: c elements


cdef void _pool_rows(PoolRun *r, int64_t row) noexcept nogil:
    """Output row ``row`` of each pool, into its channels of every pixel (c elements of nops * c)."""
    cdef int k
    for k in range(r.nops):
        xnv_pool_row(r.ops[k], r.src, r.dst + k * r.slot, r.h, r.w, r.c, r.kh, r.kw, r.sh, r.sw, r.ph, r.pw,
                     r.ho, r.wo, row, r.nops * r.c)


cdef int _pool_run(void *ctx, int nthreads) noexcept nogil:
    """Run a bound pool (a ``PoolRun``) on what its input holds now; always 0. A native program's step."""
    cdef PoolRun *r = <PoolRun *>ctx
    cdef int nt = max(1, min(nthreads, r.threads))
    cdef int64_t row
    if nt == 1:
        for row in range(r.rows):
            _pool_rows(r, row)
    else:
        for row in prange(r.rows, num_threads=nt, schedule="static"):
            _pool_rows(r, row)
    return 0


cdef class PoolCall:
    """A pool bound to its arrays (``bind``): ``run()`` computes it again from what its input holds now, and
    ``entry()`` hands the same run to a native program, which calls it without Python."""
    cdef PoolRun r
    cdef object x  # the input it reads now
    cdef readonly object out

    def use_input(self, cnp.ndarray x):
        """Read ``x`` from now on: an array like the one bound (shape, dtype, C order: the caller checks)."""
        self.r.src = cnp.PyArray_DATA(x)
        self.x = x

    def run(self):
        """The pool of the input's current values, in ``out``."""
        with nogil:
            _pool_run(&self.r, self.r.threads)
        return self.out

    def entry(self):
        """(address of the run function, address of its context): valid while this object lives."""
        return <size_t>&_pool_run, <size_t>&self.r


def bind(cnp.ndarray x, list ops, int kh, int kw, int sh, int sw, int ph, int pw, int ho, int wo, int nthreads,
         cnp.ndarray out=None):
    """``pool``'s arguments bound once into a ``PoolCall``: the pools ``ops`` (1 to MAX_OPS codes, all on
    floats or all AND) side by side; ``out`` (N, ho, wo, len(ops) * C of x's dtype, C-contiguous, apart from
    x) receives the result when given, else a new array does."""
    cdef PoolCall call = PoolCall.__new__(PoolCall)
    cdef PoolRun *r = &call.r
    cdef int k
    if not 1 <= len(ops) <= MAX_OPS:
        raise ValueError(f"1 to {MAX_OPS} pools a call, got {len(ops)}")
    if out is None:
        out = np.empty((x.shape[0], ho, wo, len(ops) * x.shape[3]), x.dtype)
    r.nops = len(ops)
    for k in range(r.nops):
        r.ops[k] = ops[k]
    r.h, r.w, r.c, r.kh, r.kw, r.sh, r.sw = x.shape[1], x.shape[2], x.shape[3], kh, kw, sh, sw
    r.ph, r.pw, r.ho, r.wo, r.rows = ph, pw, ho, wo, <int64_t>x.shape[0] * ho
    r.threads = max(1, nthreads)
    r.src = cnp.PyArray_DATA(x)
    r.dst = <char *>cnp.PyArray_DATA(out)
    r.slot = r.c * x.itemsize
    call.x, call.out = x, out
    return call
