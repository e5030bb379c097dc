# The work sharing of xnv_steal.h, for the kernel modules that split a parallel region's work.
from libc.stdint cimport int64_t

cdef extern from "xnv_steal.h" nogil:
    ctypedef struct xnv_steal_t:
        pass
    void xnv_steal_init(xnv_steal_t *s, int nt, int64_t n)
    int64_t xnv_steal_take(xnv_steal_t *own, int64_t q, int64_t n)
    int64_t xnv_steal_take_half(xnv_steal_t *own, int64_t q, int64_t least)
    int xnv_steal_half(xnv_steal_t *s, int tid, int nt, int64_t *a, int64_t *b)
    int64_t xnv_steal_one(xnv_steal_t *s, int tid, int nt, int64_t *at)
    void xnv_steal_start(int tid, int nt)
    void xnv_steal_set_late(int64_t us)


cdef inline xnv_steal_t *xnv_steal_slots(list keep, int nt) except NULL:
    """The ranges of ``nt`` threads, a cache line each, in a buffer appended to ``keep`` (which holds it)."""
    cdef bytearray buf = bytearray(64 * nt + 64)
    keep.append(buf)
    return <xnv_steal_t *>((<size_t><char *>buf + 63) & ~(<size_t>63))
