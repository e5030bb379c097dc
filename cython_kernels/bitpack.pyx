# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Sign packing: channels-last float32/int8 -> uint64 words (bit = 1 where x < 0) and back to ±1 floats.

Arguments are validated by ``xnorvision.kernels``; this module trusts them. Rows are pixels, split over
``nthreads`` threads (the caller decides when that pays) in one parallel region.
"""

from cython.parallel cimport prange
from libc.stdint cimport int8_t, int64_t, uint64_t

cimport numpy as cnp

import numpy as np

cnp.import_array()

cdef extern from "xnv_simd.h" nogil:
    ctypedef int (*xnv_pack_f32_t)(const float *x, int64_t c, uint64_t *out)
    xnv_pack_f32_t xnv_pack_f32(int path)


cdef void _pack_i8_row(const int8_t *x, int64_t c, uint64_t *out) noexcept nogil:
    cdef int64_t w, j, n
    cdef uint64_t bits
    for w in range((c + 63) // 64):
        bits = 0
        n = min(<int64_t>64, c - w * 64)
        for j in range(n):
            bits = bits | ((<uint64_t>(x[w * 64 + j] < 0)) << j)
        out[w] = bits


def pack(cnp.ndarray x, int path, int nthreads):
    """Pack a C-contiguous float32/int8 array along its last axis; raises ValueError on NaN."""
    cdef int64_t c = x.shape[x.ndim - 1], rows = x.size // c, wc = (c + 63) // 64, r
    cdef int nt = max(1, nthreads)
    shape = list((<object>x).shape)
    shape[len(shape) - 1] = wc
    cdef cnp.ndarray out = np.empty(shape, np.uint64)
    cdef uint64_t *o = <uint64_t *>cnp.PyArray_DATA(out)
    cdef int nan = 0
    cdef xnv_pack_f32_t packf = xnv_pack_f32(path)
    cdef const float *xf = <const float *>cnp.PyArray_DATA(x)
    cdef const int8_t *xi = <const int8_t *>cnp.PyArray_DATA(x)
    if x.dtype == np.float32:
        for r in prange(rows, nogil=True, num_threads=nt, schedule="static"):
            nan += packf(xf + r * c, c, o + r * wc)
        if nan:
            raise ValueError("x contains NaN: its sign is undefined")
    else:
        for r in prange(rows, nogil=True, num_threads=nt, schedule="static"):
            _pack_i8_row(xi + r * c, c, o + r * wc)
    return out


def unpack(cnp.ndarray p, int64_t c, int nthreads):
    """±1 float32 [..., c] from packed words (-1 where the bit is set)."""
    cdef int64_t wc = p.shape[p.ndim - 1], rows = p.size // wc, r, j
    cdef int nt = max(1, nthreads)
    shape = list((<object>p).shape)
    shape[len(shape) - 1] = c
    cdef cnp.ndarray out = np.empty(shape, np.float32)
    cdef float *o = <float *>cnp.PyArray_DATA(out)
    cdef const uint64_t *src = <const uint64_t *>cnp.PyArray_DATA(p)
    for r in prange(rows, nogil=True, num_threads=nt, schedule="static"):
        for j in range(c):
            o[r * c + j] = 1.0 - 2.0 * <float>((src[r * wc + (j >> 6)] >> (j & 63)) & 1)
    return out
