# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Elementwise float kernels that numpy would run as several passes with temporaries.

``prelu`` (with an optional residual added first: a Bi-Real block's ``prelu(conv + shortcut)``) reads each
input once and writes once, where numpy needs an add, a multiply and a maximum over the whole tensor.
Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t

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
