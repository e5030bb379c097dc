# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Elementwise float kernels that numpy would run as several passes with temporaries.

``prelu`` (with an optional residual added first: a Bi-Real block's ``prelu(conv + shortcut)``) reads each
input once and writes once, where numpy needs an add, a multiply and a maximum over the whole tensor.
A join copies rows of several arrays side by side (a channel concat), bound once for a model's native runs.
Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cimport numpy as cnp

cnp.import_array()


cdef extern from "xnv_eltwise.h" nogil:
    void xnv_prelu_row(const float *x, const float *r, const float *a, float *out, int64_t c)


def prelu(cnp.ndarray x, cnp.ndarray slope, cnp.ndarray residual, cnp.ndarray out, int nthreads):
    """``out = v if v >= 0 else slope * v`` with ``v = x (+ residual)``, per channel of the last axis.

    ``residual`` may be None. ``out`` may be ``x`` or ``residual`` (each value is read before it is written).
    """
    cdef int64_t c = x.shape[x.ndim - 1], rows = x.size // c, i
    cdef const float *xp = <const float *>cnp.PyArray_DATA(x)
    cdef const float *rp = NULL if residual is None else <const float *>cnp.PyArray_DATA(residual)
    cdef const float *ap = <const float *>cnp.PyArray_DATA(slope)
    cdef float *op = <float *>cnp.PyArray_DATA(out)
    cdef int nt = max(1, nthreads)
    if nt == 1:
        with nogil:
            for i in range(rows):
                xnv_prelu_row(xp + i * c, NULL if rp == NULL else rp + i * c, ap, op + i * c, c)
    else:
        for i in prange(rows, nogil=True, num_threads=nt, schedule="static"):
            xnv_prelu_row(xp + i * c, NULL if rp == NULL else rp + i * c, ap, op + i * c, c)
    return out


cdef struct JoinRun:
    int k  # inputs
    int64_t rows
    const char **src  # per input, its data: rows of row_bytes[i] bytes
    int64_t *row_bytes
    char *dst  # rows of the inputs' rows side by side
    int64_t out_row


cdef int _join_run(void *ctx, int nthreads) noexcept nogil:
    """Copy a bound join (a ``JoinRun``): row r of the output is row r of each input in turn. Always 0."""
    cdef JoinRun *r = <JoinRun *>ctx
    cdef int64_t row
    cdef int i
    cdef char *d
    for row in range(r.rows):
        d = r.dst + row * r.out_row
        for i in range(r.k):
            memcpy(d, r.src[i] + row * r.row_bytes[i], r.row_bytes[i])
            d += r.row_bytes[i]
    return 0


cdef class JoinCall:
    """Rows of several arrays side by side in one (a channel concat, a flatten's copy), bound to its arrays:
    ``run()`` copies what they hold now, ``entry()`` hands the same run to a native program."""
    cdef JoinRun r
    cdef list keep
    cdef readonly object out

    def __cinit__(self):
        self.r.src = NULL
        self.r.row_bytes = NULL

    def __dealloc__(self):
        free(self.r.src)
        free(self.r.row_bytes)

    def run(self):
        """The join of the inputs' current values, in ``out``."""
        with nogil:
            _join_run(&self.r, 1)
        return self.out

    def entry(self):
        """(address of the run function, address of its context): valid while this object lives."""
        return <size_t>&_join_run, <size_t>&self.r


def join_bind(list xs, cnp.ndarray out, int64_t rows):
    """Bind a join of C-contiguous ``xs`` into C-contiguous ``out`` (checked by the caller), each ``rows``
    rows: out's row length is the sum of theirs."""
    cdef JoinCall call = JoinCall.__new__(JoinCall)
    cdef int i, k = len(xs)
    call.r.k, call.r.rows = k, rows
    call.r.src = <const char **>malloc(max(1, k) * sizeof(char *))
    call.r.row_bytes = <int64_t *>malloc(max(1, k) * sizeof(int64_t))
    if call.r.src == NULL or call.r.row_bytes == NULL:
        raise MemoryError()
    for i in range(k):
        call.r.src[i] = <const char *>cnp.PyArray_DATA(<cnp.ndarray>xs[i])
        call.r.row_bytes[i] = (<cnp.ndarray>xs[i]).nbytes // rows if rows else 0
    call.r.dst = <char *>cnp.PyArray_DATA(out)
    call.r.out_row = out.nbytes // rows if rows else 0
    call.keep, call.out = list(xs), out
    return call
