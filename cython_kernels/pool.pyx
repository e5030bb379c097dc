# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Pooling on NHWC tensors: max of packed ±1 bits (a bitwise AND), float max and average.

Padded cells never take part: the window is clipped to the image (so the average counts real cells
only). Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint64_t

cimport numpy as cnp

import numpy as np

cnp.import_array()

cdef enum:
    MAX_BITS = 0
    MAX_FLOAT = 1
    AVG_FLOAT = 2


cdef void _pool_pixel(const void *x, void *out, int op, int h, int w, int64_t c, int y0, int y1, int x0,
                      int x1) noexcept nogil:
    """Reduce the window rows [y0, y1) x cols [x0, x1) of one image into ``out`` (c values)."""
    cdef int y, xx
    cdef int64_t j
    cdef const uint64_t *bsrc
    cdef const float *fsrc
    cdef uint64_t *bo = <uint64_t *>out
    cdef float *fo = <float *>out
    cdef float inv
    for y in range(y0, y1):
        for xx in range(x0, x1):
            if op == MAX_BITS:
                bsrc = <const uint64_t *>x + (<int64_t>y * w + xx) * c
                if y == y0 and xx == x0:
                    for j in range(c):
                        bo[j] = bsrc[j]
                else:
                    for j in range(c):
                        bo[j] = bo[j] & bsrc[j]
            else:
                fsrc = <const float *>x + (<int64_t>y * w + xx) * c
                if y == y0 and xx == x0:
                    for j in range(c):
                        fo[j] = fsrc[j]
                elif op == MAX_FLOAT:
                    for j in range(c):
                        fo[j] = fsrc[j] if fsrc[j] > fo[j] else fo[j]
                else:
                    for j in range(c):
                        fo[j] = fo[j] + fsrc[j]
    if op == AVG_FLOAT:
        inv = <float>((y1 - y0) * (x1 - x0))
        for j in range(c):
            fo[j] = fo[j] / inv


def pool(cnp.ndarray x, int op, int kh, int kw, int sh, int sw, int ph, int pw, int ho, int wo, int nthreads):
    """op 0: AND of packed words (max of ±1); 1: float max; 2: float mean over real cells."""
    cdef int n = x.shape[0], h = x.shape[1], w = x.shape[2]
    cdef int64_t c = x.shape[3], row, ox, isz = <int64_t>h * w * c, esz = x.itemsize
    cdef int oy, b, y0, x0
    cdef int nt = max(1, nthreads)
    cdef cnp.ndarray out = np.empty((n, ho, wo, c), x.dtype)
    cdef char *src = <char *>cnp.PyArray_DATA(x)
    cdef char *dst = <char *>cnp.PyArray_DATA(out)
    for row in prange(<int64_t>n * ho, nogil=True, num_threads=nt, schedule="static"):
        b = <int>(row // ho)
        oy = <int>(row % ho)
        y0 = oy * sh - ph
        for ox in range(wo):
            x0 = <int>ox * sw - pw
            _pool_pixel(src + b * isz * esz, dst + ((row * wo + ox) * c) * esz, op, h, w, c,
                        max(y0, 0), min(y0 + kh, h), max(x0, 0), min(x0 + kw, w))
    return out
