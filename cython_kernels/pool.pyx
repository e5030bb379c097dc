# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Pooling on NHWC tensors: max of packed ±1 bits (a bitwise AND), float max and average.

Padded cells never take part: the window is clipped to the image (so the average counts real cells
only). Each window is folded in row-major order from its first real cell (see ``xnv_pool.h``): max keeps
the earlier value unless a later one is strictly greater, the mean adds in float32 and divides by the
count. The rows run on SSE2 / NEON over channels, with an unrolled path for full 2x2 windows. Arguments are
validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t

cimport numpy as cnp

import numpy as np

cnp.import_array()


cdef extern from "xnv_pool.h" nogil:
    void xnv_pool_row(int op, const void *x, void *out, int h, int w, int64_t c, int kh, int kw, int sh,
                      int sw, int ph, int pw, int ho, int wo, int64_t row)


def pool(cnp.ndarray x, int op, int kh, int kw, int sh, int sw, int ph, int pw, int ho, int wo, int nthreads):
    """op 0: AND of packed words (max of ±1); 1: float max; 2: float mean over real cells."""
    cdef int n = x.shape[0], h = x.shape[1], w = x.shape[2]
    cdef int64_t c = x.shape[3], row, rows = <int64_t>n * ho
    cdef int nt = max(1, nthreads)
    cdef cnp.ndarray out = np.empty((n, ho, wo, c), x.dtype)
    cdef const void *src = cnp.PyArray_DATA(x)
    cdef void *dst = cnp.PyArray_DATA(out)
    if nt == 1:
        with nogil:
            for row in range(rows):
                xnv_pool_row(op, src, dst, h, w, c, kh, kw, sh, sw, ph, pw, ho, wo, row)
    else:
        for row in prange(rows, nogil=True, num_threads=nt, schedule="static"):
            xnv_pool_row(op, src, dst, h, w, c, kh, kw, sh, sw, ph, pw, ho, wo, row)
    return out
