# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""im2col for float32 NHWC: the patch matrix a float GEMM convolves with (``bench kernels``' float baseline).

Row (n, oy, ox) holds the kh x kw x C patch in (dy, dx, c) order, zeros where the patch leaves the image.
Arguments are validated by the caller; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset

cimport numpy as cnp

import numpy as np

cnp.import_array()


def im2col(cnp.ndarray x, int kh, int kw, int stride, int ph, int pw, int ho, int wo, int nthreads):
    """float32 [N,H,W,C] -> float32 [N*Ho*Wo, kh*kw*C]."""
    cdef int n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3]
    cdef int64_t k = <int64_t>kh * kw * c, row, ox
    cdef int b, oy, dy, dx, iy, ix
    cdef cnp.ndarray cols = np.empty((<int64_t>n * ho * wo, k), np.float32)
    cdef const float *src = <const float *>cnp.PyArray_DATA(x)
    cdef float *dst = <float *>cnp.PyArray_DATA(cols)
    cdef float *d
    cdef const float *s
    cdef int j
    cdef int nt = max(1, nthreads)
    for row in prange(<int64_t>n * ho, nogil=True, num_threads=nt, schedule="static"):
        b = <int>(row // ho)
        oy = <int>(row % ho)
        for ox in range(wo):
            d = dst + (row * wo + ox) * k
            for dy in range(kh):
                iy = oy * stride - ph + dy
                for dx in range(kw):
                    ix = <int>ox * stride - pw + dx
                    if iy < 0 or iy >= h or ix < 0 or ix >= w:
                        memset(d + (dy * kw + dx) * c, 0, c * sizeof(float))
                    elif c < 16:  # the few channels of an image: a call to memcpy costs more than the copy
                        s = src + ((<int64_t>b * h + iy) * w + ix) * c
                        for j in range(c):
                            d[(dy * kw + dx) * c + j] = s[j]
                    else:
                        memcpy(d + (dy * kw + dx) * c, src + ((<int64_t>b * h + iy) * w + ix) * c,
                               c * sizeof(float))
    return cols
