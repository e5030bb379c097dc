# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Area (box-filter) shrink of a uint8 image, as ``cv2.resize(..., interpolation=cv2.INTER_AREA)``.

OpenCV's INTER_AREA has a fast path for integer scales only; at the fractional scales of a detector's
input (640x480 to 320 or 416) it runs about 3x slower than a pyramid step plus bilinear. This kernel runs
any scale <= 1 separably (see ``xnv_area.h``), one thread: a frame is a ~0.1 ms job, and waking a second
thread would cost as much as it saves. It writes into a given array, which may be a view with its own
row stride (a canvas's corner). Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from libc.stdint cimport int64_t, uint8_t

cimport numpy as cnp

cnp.import_array()


cdef extern from "xnv_area.h" nogil:
    int xnv_area_shrink(const uint8_t *src, int h_in, int w_in, int64_t sstride, uint8_t *dst, int h, int w,
                        int64_t dstride, int c)


def shrink(cnp.ndarray src, cnp.ndarray out):
    """src uint8 [H, W, C] -> out uint8 [h, w, C], h <= H, w <= W; each row's pixels contiguous."""
    cdef const uint8_t *s = <const uint8_t *>cnp.PyArray_DATA(src)
    cdef uint8_t *d = <uint8_t *>cnp.PyArray_DATA(out)
    cdef int h_in = src.shape[0], w_in = src.shape[1], h = out.shape[0], w = out.shape[1], c = src.shape[2]
    cdef int64_t ss = src.strides[0], ds = out.strides[0]
    cdef int rc
    with nogil:
        rc = xnv_area_shrink(s, h_in, w_in, ss, d, h, w, ds, c)
    if rc:
        raise MemoryError("area shrink: no memory for its row buffers")
    return out
