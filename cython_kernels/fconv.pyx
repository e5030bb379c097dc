# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Direct float32 convolution for few taps x channels: a detector's first layer (3x3 x 3 channels -> 16).

im2col + GEMM is a poor fit there (K = 27, N = 16, and the patch matrix is 9x the image); the SIMD tiles
of ``xnv_fconv.h`` read the NHWC input in place instead. One call = at most one parallel region, over
output rows, with ``nthreads`` threads (the caller passes 1 unless the work outweighs waking the others).
Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t

cimport numpy as cnp

cnp.import_array()

cdef extern from "xnv_fconv.h" nogil:
    ctypedef struct xnv_fconv_t:
        const float *x
        const float *w
        const float *bias
        float *out
        int h, w_in, c, kh, kw, sh, sw, ph, pw, ho, wo, o, relu
    ctypedef void (*xnv_fconv_rows_t)(const xnv_fconv_t *p, int64_t r0, int64_t r1)
    xnv_fconv_rows_t xnv_fconv_rows(int path)
    int xnv_fconv_path(int path)


def conv(cnp.ndarray x, cnp.ndarray w, object bias, int sh, int sw, int ph, int pw, bint relu,
         cnp.ndarray out, int path, int nthreads):
    """x float32 [N,H,W,C], w float32 [kh,kw,C,O], bias float32 [O] or None -> out float32 [N,Ho,Wo,O]."""
    cdef xnv_fconv_t p
    cdef int n = x.shape[0]
    p.x = <const float *>cnp.PyArray_DATA(x)
    p.w = <const float *>cnp.PyArray_DATA(w)
    p.bias = NULL
    if bias is not None:
        p.bias = <float *>cnp.PyArray_DATA(<cnp.ndarray>bias)
    p.out = <float *>cnp.PyArray_DATA(out)
    p.h, p.w_in, p.c = x.shape[1], x.shape[2], x.shape[3]
    p.kh, p.kw, p.o = w.shape[0], w.shape[1], w.shape[3]
    p.sh, p.sw, p.ph, p.pw = sh, sw, ph, pw
    p.ho, p.wo = out.shape[1], out.shape[2]
    p.relu = relu
    cdef xnv_fconv_rows_t rows = xnv_fconv_rows(path)
    cdef int64_t nrows = <int64_t>n * p.ho
    cdef int nt = <int>min(<int64_t>max(1, nthreads), nrows)
    cdef int t
    cdef const xnv_fconv_t *pp = &p
    if nt == 1:
        with nogil:
            rows(pp, 0, nrows)
    else:
        for t in prange(nt, nogil=True, num_threads=nt, schedule="static", chunksize=1):
            rows(pp, nrows * t // nt, nrows * (t + 1) // nt)
    return out


def path(int path) -> int:
    """The path ``conv`` runs for the kernels' popcount path (AVX2 without FMA, NEON: portable)."""
    return xnv_fconv_path(path)
