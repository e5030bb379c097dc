# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Greedy non-maximum suppression, and the nested-box filter after it, on float32 x1, y1, x2, y2 boxes.

The numpy loops they replace cost ~1 ms for 300 boxes (NMS), a fifth of a frame, and ~0.37 ms for the
faces pipeline's 24 final boxes (``drop_nested``), a quarter of its classifier stage. The IoU is computed in float32
step for step like ``xnorvision.detect.box_iou`` (areas clipped at 0, NaN kept, union <= 0 -> IoU 0) so
that the kept set is bit-identical; ``drop_nested`` likewise mirrors its numpy loop. Arguments are
validated by ``xnorvision.detect._boxes``; this module trusts them (C-contiguous float32 ``(N, 4)``, int64
``order`` of valid indices).
"""

from libc.stdint cimport int64_t

cimport numpy as cnp

import numpy as np

cnp.import_array()


cdef inline float _side(float lo, float hi) noexcept nogil:
    """``clip(hi - lo, 0, None)``: NaN stays NaN, as in numpy."""
    cdef float d = hi - lo
    return 0.0 if d < 0 else d


cdef inline float _iou(const float *a, const float *b, float area_a, float area_b) noexcept nogil:
    cdef float x1 = a[0] if a[0] > b[0] else b[0]
    cdef float y1 = a[1] if a[1] > b[1] else b[1]
    cdef float x2 = a[2] if a[2] < b[2] else b[2]
    cdef float y2 = a[3] if a[3] < b[3] else b[3]
    cdef float inter = _side(x1, x2) * _side(y1, y2)
    # Any NaN coordinate makes an area, hence the union, NaN: the IoU is then 0 whatever ``inter`` is.
    cdef float union = area_a + area_b - inter
    cdef float eps = 1e-12
    if not (union > 0):
        return 0.0
    return inter / (union if union > eps else eps)


def nms(cnp.ndarray boxes, cnp.ndarray order, double iou_threshold, int64_t max_out):
    """Kept indices (int64), in visiting order; a box is dropped unless ``IoU <= iou_threshold`` with
    every box kept before it. ``max_out < 0``: no limit. Compare in double: the caller passes the
    threshold already rounded to float32 when numpy would have compared in float32."""
    cdef int64_t n = boxes.shape[0], m = order.shape[0], p, q, i, nkept = 0
    cdef const float *b = <const float *>cnp.PyArray_DATA(boxes)
    cdef const int64_t *o = <const int64_t *>cnp.PyArray_DATA(order)
    cdef cnp.ndarray areas_arr = np.empty(n, np.float32)
    cdef cnp.ndarray keep_arr = np.empty(m, np.int64)
    cdef float *areas = <float *>cnp.PyArray_DATA(areas_arr)
    cdef int64_t *keep = <int64_t *>cnp.PyArray_DATA(keep_arr)
    cdef bint kept
    if max_out < 0 or max_out > m:
        max_out = m
    with nogil:
        for i in range(n):
            areas[i] = _side(b[4 * i], b[4 * i + 2]) * _side(b[4 * i + 1], b[4 * i + 3])
        for p in range(m):
            if nkept >= max_out:
                break
            i = o[p]
            kept = True
            for q in range(nkept):
                if not (<double>_iou(b + 4 * keep[q], b + 4 * i, areas[keep[q]], areas[i]) <= iou_threshold):
                    kept = False
                    break
            if kept:
                keep[nkept] = i
                nkept += 1
    return keep_arr[:nkept].copy()


cdef inline float _nan_min(float a, float b) noexcept nogil:
    """``np.minimum``: NaN if either is NaN."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a < b else b


cdef inline float _nan_max(float a, float b) noexcept nogil:
    """``np.maximum``: NaN if either is NaN."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a > b else b


def drop_nested(cnp.ndarray boxes, double cover, bint double_product):
    """Indices (int64) of ``boxes`` kept in order: a box is dropped when some box kept before it shares
    ``cover`` or more of the smaller one's area (``smaller > 0 and w * h >= cover * smaller``).

    ``double_product``: numpy multiplied ``cover * smaller`` in float64 (a float64 ``cover``); otherwise in
    float32, with ``cover`` already rounded to float32 by the caller. Min, max and the clip propagate NaN
    as numpy's do, so a NaN box drops nothing and is never dropped.
    """
    cdef int64_t n = boxes.shape[0], i, q, k, nkept = 0
    cdef const float *b = <const float *>cnp.PyArray_DATA(boxes)
    cdef cnp.ndarray areas_arr = np.empty(n, np.float32)
    cdef cnp.ndarray keep_arr = np.empty(n, np.int64)
    cdef float *areas = <float *>cnp.PyArray_DATA(areas_arr)
    cdef int64_t *keep = <int64_t *>cnp.PyArray_DATA(keep_arr)
    cdef float cover_f = <float>cover, w, h, smaller
    cdef bint nested
    with nogil:
        for i in range(n):
            areas[i] = _side(b[4 * i], b[4 * i + 2]) * _side(b[4 * i + 1], b[4 * i + 3])
        for i in range(n):
            nested = False
            for q in range(nkept):
                k = keep[q]
                smaller = _nan_min(areas[k], areas[i])
                if not (smaller > 0):
                    continue
                w = _side(_nan_max(b[4 * k], b[4 * i]), _nan_min(b[4 * k + 2], b[4 * i + 2]))
                h = _side(_nan_max(b[4 * k + 1], b[4 * i + 1]), _nan_min(b[4 * k + 3], b[4 * i + 3]))
                if (<double>(w * h) >= cover * <double>smaller if double_product
                        else w * h >= cover_f * smaller):
                    nested = True
                    break
            if not nested:
                keep[nkept] = i
                nkept += 1
    return keep_arr[:nkept].copy()
