/* Sharing a parallel region's work when the threads do not run at the same speed.
 *
 * A static split (one equal range a thread) waits at the region's end for its slowest thread. On a 2-core
 * VM one vCPU at a time ran slower for seconds (its host core shared, presumably), and a 2-thread layer
 * then took nearly as long as a 1-thread one (docs/benchmarks.md, the fifth session). Here the work is a row
 * of units (tiles, rows); thread t owns an equal range of them and takes them from its front, in order, so
 * with equal speeds each thread does what a static split gives it (and finds in its L2 what it wrote in the
 * layer before), and a driver that keeps state from one row to the next (a ring of conv rows) keeps it. A
 * thread whose range ran dry moves the back half of the largest other range into its own and goes on there,
 * so the threads finish within a take of each other.
 *
 * A range is one 64-bit word, next unit in the low half and end in the high half, changed by compare and
 * swap (an empty one, which no other thread takes from, by its owner's store): owner and thief never take
 * the same unit. What the units write is ordered by the parallel region's own barrier, so the word needs no
 * stronger ordering than its own atomicity.
 */
#ifndef XNV_STEAL_H
#define XNV_STEAL_H

#include <stdint.h>
#include <time.h>

/* one thread's range, alone on its cache line */
typedef struct {
    uint64_t range; /* next | end << 32 */
    uint64_t pad[7];
} xnv_steal_t;

/* For tests: the last thread of every region starts this many microseconds late (0: on time), so that the
 * others take its work; each module including this header has its own (set by its ``late_thread``). */
static int64_t xnv_steal_late_us = 0;

static inline void xnv_steal_set_late(int64_t us) { xnv_steal_late_us = us > 0 ? us : 0; }

/* A thread's first call in a region: waits there when it is the late one. */
static inline void xnv_steal_start(int tid, int nt) {
    if (xnv_steal_late_us > 0 && tid == nt - 1) {
        struct timespec ts = {(time_t)(xnv_steal_late_us / 1000000),
                              (long)(xnv_steal_late_us % 1000000) * 1000};
        nanosleep(&ts, 0);
    }
}

static inline uint64_t xnv_steal_range(int64_t a, int64_t b) { return (uint64_t)a | (uint64_t)b << 32; }

/* Split units [0, n) (n < 2^32) into nt equal ranges, range t for thread t (before the parallel region);
 * thread t starts at n * t / nt. */
static inline void xnv_steal_init(xnv_steal_t *s, int nt, int64_t n) {
    for (int t = 0; t < nt; t++)
        __atomic_store_n(&s[t].range, xnv_steal_range(n * t / nt, n * (t + 1) / nt), __ATOMIC_RELAXED);
}

/* The owner of range `own`, standing at unit q (the first it has not taken), takes [q, q + n): how many
 * units it got, fewer at its range's end, 0 once the range holds none from q on (taken by another thread). */
static inline int64_t xnv_steal_take(xnv_steal_t *own, int64_t q, int64_t n) {
    uint64_t r = __atomic_load_n(&own->range, __ATOMIC_RELAXED);
    for (;;) {
        const int64_t lo = (uint32_t)r, hi = (int64_t)(r >> 32);
        if (lo != q || lo >= hi) return 0;
        const int64_t end = q + n < hi ? q + n : hi;
        if (__atomic_compare_exchange_n(&own->range, &r, xnv_steal_range(end, hi), 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return end - q;
    }
}

/* As xnv_steal_take, with n half of what the range holds from q on (rounded up), at least `least`: a
 * thread that keeps its speed takes its share in few pieces, and the last pieces, small, are what another
 * thread can take when it runs dry. */
static inline int64_t xnv_steal_take_half(xnv_steal_t *own, int64_t q, int64_t least) {
    const int64_t left = (int64_t)(__atomic_load_n(&own->range, __ATOMIC_RELAXED) >> 32) - q;
    return xnv_steal_take(own, q, (left + 1) / 2 > least ? (left + 1) / 2 : least);
}

/* Thread tid, its range run dry: the back half (rounded up) of the largest other range becomes its own,
 * [*a, *b), and it returns 1; 0 once every range is empty. */
static inline int xnv_steal_half(xnv_steal_t *s, int tid, int nt, int64_t *a, int64_t *b) {
    for (;;) {
        xnv_steal_t *victim = 0;
        uint64_t r = 0;
        int64_t most = 0;
        for (int k = 1; k < nt; k++) {
            xnv_steal_t *v = s + (tid + k) % nt;
            const uint64_t rv = __atomic_load_n(&v->range, __ATOMIC_RELAXED);
            const int64_t left = (int64_t)(rv >> 32) - (int64_t)(uint32_t)rv;
            if (left > most) most = left, victim = v, r = rv;
        }
        if (!victim) return 0;
        const int64_t hi = (int64_t)(r >> 32), cut = hi - (most + 1) / 2;
        if (__atomic_compare_exchange_n(&victim->range, &r, xnv_steal_range((uint32_t)r, cut), 0,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            /* no thread takes from a range that is empty, as this one was: a plain store is safe */
            __atomic_store_n(&s[tid].range, xnv_steal_range(cut, hi), __ATOMIC_RELAXED);
            *a = cut, *b = hi;
            return 1;
        }
    }
}

/* The next unit for thread tid, one at a time: its own range's front, then back halves of the others'. *at is
 * where it stands in its own range (n * tid / nt, where xnv_steal_init starts it, before its first call);
 * -1 once every range is empty. */
static inline int64_t xnv_steal_one(xnv_steal_t *s, int tid, int nt, int64_t *at) {
    int64_t end;
    do {
        if (xnv_steal_take(s + tid, *at, 1)) return (*at)++;
    } while (xnv_steal_half(s, tid, nt, at, &end));
    return -1;
}

#endif
