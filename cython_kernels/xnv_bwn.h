/* Binary-weight convolution (BWN: ±1 weights, real input) by tables of signed sums, without multiplies.
 *
 * Every output channel sums the same taps of a pixel, each with its own signs. Four taps have only 16 sign
 * patterns, so for a group of four taps (four consecutive channels at one kernel position) a block of 8
 * output pixels first writes the 16 signed sums of the group, each as one vector of the 8 pixels' values
 * (the table, 8 adds and 8 negations for 16 vectors), and every output channel then adds, group by group,
 * the table entry of its own pattern: one vector add a group and channel for 4 taps x 8 pixels, where
 * multiply-adds take 4 vector FMAs (8 channels each) for the same 32 products per channel. The sums are
 * bound by the loads of the table entries (about two vectors a cycle on Zen 3), the tables by their stores
 * (one a cycle); what the faces proposal net's BWN conv gained is in docs/benchmarks.md (the seventh
 * session).
 *
 * Bits: y = (sum over groups g in order of T_g) * scale + bias, then PReLU y < 0 ? y * slope : y, where
 * T_g = (s0 x0 + s1 x1) + (s2 x2 + s3 x3) for the group's taps x0..x3 and weight signs s0..s3, each signed
 * pair formed as +-(x0 + x1) or +-(x0 - x1), and every sum rounded to float32: plain adds, multiplies and
 * negations in one order on every path (AVX2, SSE2, NEON, plain C), hence the same bits on every CPU,
 * whatever the threads, the batch or the output's width; tests/kernels/reference.py's bwn_conv2d is that
 * order in numpy. The signs (y < 0) come from the epilogue's vectors, a byte of a pixel's words per 8
 * channels.
 * Channels past C in the last group read zeros.
 *
 * Layout: a thread keeps the kh input rows that an output row reads in a ring, each transposed once into
 * planes [phase][channel][column] (phase = input column mod stride, column = input column div stride, zeros
 * outside the image), so that a tap of 8 consecutive output pixels is one vector load whatever the stride.
 * The tables of a block (16 vectors a group) stay in L1 for up to XNV_BW_CHUNK groups; a conv with more
 * groups sums them chunk by chunk, keeping the partial sums between chunks (same order, same bits). The
 * patterns are bytes [8-channel block][group][8] holding 8 * pattern (bit k: tap k's weight is -1), so one
 * 64-bit load gives 8 channels' table offsets.
 */
#ifndef XNV_BWN_H
#define XNV_BWN_H

#include <stdint.h>
#include <string.h>

#include "xnv_simd.h" /* the path numbers */
#include "xnv_steal.h"
#include "xnv_vec8.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the packed signs are written byte by byte: little-endian words only"
#endif

#define XNV_BW_PX 8     /* output pixels a block: one vector of 8 floats */
/* Groups whose tables a block holds at once: 48 x 16 vectors = 24 KB. The faces net's BWN conv (36 groups)
 * then sums in one chunk: 0.87x its time in chunks of 32, which stored and reloaded the partial sums for the
 * last 4 groups (scripts/ab_builds.py layers --layer faces-bwn, 1 and 2 threads); a 64-channel 3x3 conv
 * (144 groups) took 0.95-0.99x, while chunks of 64 (32 KB, all of L1) made it 1.02x (one thread, the two
 * builds alternating in one process). */
#define XNV_BW_CHUNK 48
#define XNV_BW_MAX_KH 64 /* kernel rows at most (kernels.bwn_conv2d refuses taller kernels) */

typedef xnv_v8 xnv_bw_v;
typedef xnv_v8i xnv_bw_vi;
typedef float xnv_bw_vu __attribute__((vector_size(32), aligned(4))); /* an unaligned load */

typedef struct {
    const float *x;       /* input [n][h][w_in][c] */
    const uint8_t *pat;   /* [(o + 7) / 8][groups][8]: 8 * the sign pattern of each channel of the block */
    const float *scale;   /* [(o + 7) / 8 * 8] (zeros past o), as bias and slope */
    const float *bias;
    const float *slope;   /* or NULL: no PReLU */
    float *out;           /* [n][ho][wo][o] */
    uint64_t *bits;       /* out's shape with ceil(o / 64) words a pixel, or NULL: out's packed signs */
    int h, w_in, c, kh, kw, s, ph, pw, ho, wo, o;
    xnv_steal_t *own;     /* NULL: a driver computes all of its rows; else the calling thread's range */
} xnv_bwn_t;

/* Sizes: channel quads, groups, 8-channel blocks, floats of a plane row, of a ring slot. */
static inline int xnv_bw_quads(const xnv_bwn_t *p) { return (p->c + 3) / 4; }
static inline int xnv_bw_groups(const xnv_bwn_t *p) { return p->kh * p->kw * xnv_bw_quads(p); }
static inline int xnv_bw_blocks(const xnv_bwn_t *p) { return (p->o + 7) / 8; }
static inline int64_t xnv_bw_cols(const xnv_bwn_t *p) {
    return ((int64_t)(p->wo + XNV_BW_PX - 1) / XNV_BW_PX * XNV_BW_PX + (p->kw - 1) / p->s + 8) / 8 * 8;
}
static inline int64_t xnv_bw_slot(const xnv_bwn_t *p) { return (int64_t)p->s * 4 * xnv_bw_quads(p) * xnv_bw_cols(p); }
static inline int xnv_bw_chunk(const xnv_bwn_t *p) {
    return xnv_bw_groups(p) < XNV_BW_CHUNK ? xnv_bw_groups(p) : XNV_BW_CHUNK;
}

/* A thread's scratch, in floats, zeroed when bound: the ring (kh slots and one of zeros), the tables, the
 * partial sums (more groups than a chunk), a block's results [8 pixels][blocks * 8], the ring's tags (an
 * int64 a slot). */
static inline int64_t xnv_bwn_scratch_floats(const xnv_bwn_t *p) {
    const int64_t ob8 = (int64_t)xnv_bw_blocks(p) * 8;
    const int64_t partial = xnv_bw_groups(p) > XNV_BW_CHUNK ? ob8 * XNV_BW_PX : 0;
    return (p->kh + 1) * xnv_bw_slot(p) + (int64_t)xnv_bw_chunk(p) * 16 * XNV_BW_PX + partial + XNV_BW_PX * ob8 +
           (2 * (int64_t)p->kh + 7) / 8 * 8;
}

#if defined(__GNUC__)
#define XNV_BW_INLINE static inline __attribute__((always_inline))
#else
#define XNV_BW_INLINE static inline
#endif

/* keeps the compiler from folding the shifts of m into one per byte (3 integer ops a byte, not 1.5) */
#if defined(__GNUC__) && defined(__x86_64__)
#define XNV_BW_OPAQUE(m) __asm__("" : "+Q"(m))
#else
#define XNV_BW_OPAQUE(m) (void)0
#endif

/* Global input row g (image * h + y) into a ring slot: planes [phase][channel][column]. Only the columns
 * whose pixels lie in the image and the channels below c are written: the rest of every slot is the zero
 * padding, which the scratch holds from its start (zeroed once, when the call is bound). Runs of 8 columns,
 * of 8 channels, are transposed in registers; the rest is copied value by value. */
XNV_BW_INLINE void xnv_bw_fill(const xnv_bwn_t *p, int64_t g, float *slot) {
    const int64_t cols = xnv_bw_cols(p), plane = 4 * (int64_t)xnv_bw_quads(p) * cols;
    const int c = p->c, s = p->s, c8 = c / 8 * 8;
    const float *row = p->x + g * p->w_in * c;
    for (int px = 0; px < s; px++) {
        float *pl = slot + px * plane;
        /* columns j whose pixel s * j + px - pw lies in the image: [j0, j1) */
        const int first = p->pw - px, j0 = first > 0 ? (first + s - 1) / s : 0;
        const int last = p->w_in - 1 + p->pw - px; /* s * j <= last */
        int j1 = last >= 0 ? last / s + 1 : 0;
        if (j1 > cols) j1 = (int)cols;
        int j = j0;
        if (c8)
            for (; j + 8 <= j1; j += 8) {
                const float *src = row + ((int64_t)s * j + px - p->pw) * c;
                for (int k = 0; k < c8; k += 8) {
                    xnv_bw_v r[8];
                    for (int i = 0; i < 8; i++) r[i] = *(const xnv_bw_vu *)(src + (int64_t)i * s * c + k);
                    xnv_v8_transpose(r);
                    for (int i = 0; i < 8; i++) *(xnv_bw_vu *)(pl + (int64_t)(k + i) * cols + j) = r[i];
                }
            }
        for (int jj = j0; jj < j1; jj++) {
            const float *src = row + ((int64_t)s * jj + px - p->pw) * c;
            for (int k = jj < j ? c8 : 0; k < c; k++) pl[(int64_t)k * cols + jj] = src[k];
        }
    }
}

/* The tables of groups [g0, g0 + ng) for the block of 8 output pixels from column ox0 of the output row
 * whose ring slots are slots[dy]: T[(g - g0) * 16 + pattern] (8 floats each). */
XNV_BW_INLINE void xnv_bw_tables(const xnv_bwn_t *p, float *const *slots, int ox0, int g0, int ng, xnv_bw_v *T) {
    const int cq = xnv_bw_quads(p), s = p->s;
    const int64_t cols = xnv_bw_cols(p), plane = 4 * (int64_t)cq * cols;
    const xnv_bw_vi neg = (xnv_bw_vi){0} - (int32_t)0x7fffffff - 1; /* the sign bit in every lane */
    int q = g0 % cq, dx = g0 / cq % p->kw, dy = g0 / cq / p->kw; /* group g0's taps; then counted up */
    const float *b = slots[dy] + (dx % s) * plane + ox0 + dx / s + 4 * (int64_t)q * cols;
    for (int g = 0; g < ng; g++, T += 16) {
        const xnv_bw_v x0 = *(const xnv_bw_vu *)b, x1 = *(const xnv_bw_vu *)(b + cols);
        const xnv_bw_v x2 = *(const xnv_bw_vu *)(b + 2 * cols), x3 = *(const xnv_bw_vu *)(b + 3 * cols);
        /* pair patterns: 0 (+,+), 1 (-,+), 2 (+,-), 3 (-,-) */
        const xnv_bw_v s01 = x0 + x1, d01 = x0 - x1, s23 = x2 + x3, d23 = x2 - x3;
        const xnv_bw_v a[4] = {s01, (xnv_bw_v)((xnv_bw_vi)d01 ^ neg), d01, (xnv_bw_v)((xnv_bw_vi)s01 ^ neg)};
        const xnv_bw_v c1 = (xnv_bw_v)((xnv_bw_vi)d23 ^ neg);
        for (int k = 0; k < 4; k++) { /* pattern k + 4 m: a[k] + the pair m of taps 2, 3; 3 - k + 4 (3 - m) its negation */
            const xnv_bw_v u0 = a[k] + s23, u1 = a[k] + c1;
            T[k] = u0;
            T[k + 4] = u1;
            T[(k ^ 3) + 12] = (xnv_bw_v)((xnv_bw_vi)u0 ^ neg);
            T[(k ^ 3) + 8] = (xnv_bw_v)((xnv_bw_vi)u1 ^ neg);
        }
        if (++q < cq) {
            b += 4 * cols;
            continue;
        }
        q = 0;
        if (++dx == p->kw) {
            dx = 0;
            if (++dy == p->kh) break; /* the last group */
        }
        b = slots[dy] + (dx % s) * plane + ox0 + dx / s;
    }
}

/* Adds group by group the table entries of the 8 channels of block ob (groups [g0, g0 + ng)), starting from
 * acc (first: from the first group's entries). */
XNV_BW_INLINE void xnv_bw_sum(const xnv_bwn_t *p, const xnv_bw_v *T, int ob, int g0, int ng, int first,
                              xnv_bw_v acc[8]) {
    const uint8_t *pat = p->pat + ((int64_t)ob * xnv_bw_groups(p) + g0) * 8;
    const char *t = (const char *)T;
    int g = 0;
    if (first) {
        for (int k = 0; k < 8; k++) acc[k] = *(const xnv_bw_v *)(t + pat[k] * 4);
        g = 1;
    }
    xnv_bw_v a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    for (; g < ng; g++) {
        /* the offsets byte by byte, two at a time from the low 16 bits (x86: the low and high byte
         * registers, no shift each), then the next 16 */
        uint64_t m;
        memcpy(&m, pat + (int64_t)g * 8, 8);
        const char *tg = t + (int64_t)g * 16 * sizeof(xnv_bw_v);
        a0 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)m * 4);
        a1 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)(m >> 8) * 4);
        m >>= 16;
        XNV_BW_OPAQUE(m);
        a2 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)m * 4);
        a3 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)(m >> 8) * 4);
        m >>= 16;
        XNV_BW_OPAQUE(m);
        a4 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)m * 4);
        a5 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)(m >> 8) * 4);
        m >>= 16;
        XNV_BW_OPAQUE(m);
        a6 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)m * 4);
        a7 += *(const xnv_bw_v *)(tg + (size_t)(uint8_t)(m >> 8) * 4);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
}

/* The lanes of a mask vector as bits (lane k -> bit k): a path's movemask, or this loop. */
typedef unsigned (*xnv_bw_lanes_t)(xnv_bw_vi m);
XNV_BW_INLINE unsigned xnv_bw_lanes_c(xnv_bw_vi m) {
    unsigned r = 0;
    for (int k = 0; k < 8; k++) r |= (unsigned)(m[k] & 1) << k;
    return r;
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) static inline unsigned xnv_bw_lanes_avx2(xnv_bw_vi m) {
    return (unsigned)_mm256_movemask_ps((__m256)m);
}
#endif

/* The epilogue of block ob's sums (acc[k]: channel 8 ob + k of the 8 pixels): scale, bias, PReLU, then the
 * values of pixel i to dst + i * stride for the npx pixels of the block (all 8 when dst is a scratch block)
 * and, with sb, their signs (y < 0) as byte ob of each pixel's words (sb: pixel 0's, sbstride bytes apart),
 * the channels past o left 0; returns how many of them are NaN. */
XNV_BW_INLINE int xnv_bw_finish(const xnv_bwn_t *p, int ob, xnv_bw_v acc[8], float *dst, int64_t stride,
                                uint8_t *sb, int64_t sbstride, int npx, xnv_bw_lanes_t lanes) {
    const int c0 = ob * 8;
    for (int k = 0; k < 8; k++) {
        xnv_bw_v y = acc[k] * p->scale[c0 + k];
        y = y + p->bias[c0 + k];
        if (p->slope) {
            const xnv_bw_vi m = y < 0;
            const xnv_bw_v z = y * p->slope[c0 + k];
            y = (xnv_bw_v)(((xnv_bw_vi)z & m) | ((xnv_bw_vi)y & ~m));
        }
        acc[k] = y;
    }
    xnv_v8_transpose(acc);
    for (int i = 0; i < 8; i++) *(xnv_bw_vu *)(dst + i * stride) = acc[i];
    if (!sb) return 0;
    const unsigned valid = p->o - c0 >= 8 ? 0xffu : (1u << (p->o - c0)) - 1;
    int nan = 0;
    for (int i = 0; i < npx; i++) {
        sb[i * sbstride] = (uint8_t)(lanes(acc[i] < 0) & valid);
        nan += (lanes(acc[i] != acc[i]) & valid) != 0;
    }
    return nan;
}

/* Output rows [r0, r1) (row = image * ho + oy); scratch: xnv_bwn_scratch_floats(p) floats, 32-byte aligned.
 * Returns the NaN results packed into bits (0 without bits). */
XNV_BW_INLINE int xnv_bw_rows(const xnv_bwn_t *p, int64_t r0, int64_t r1, float *scratch, xnv_bw_lanes_t lanes) {
    const int G = xnv_bw_groups(p), nob = xnv_bw_blocks(p), ob8 = nob * 8, chunk = xnv_bw_chunk(p);
    const int words = (p->o + 63) / 64;
    const int64_t slot = xnv_bw_slot(p);
    xnv_bw_v *T = (xnv_bw_v *)(scratch + (p->kh + 1) * slot);
    float *partial = (float *)(T + (int64_t)chunk * 16);
    float *res = partial + (G > XNV_BW_CHUNK ? (int64_t)ob8 * XNV_BW_PX : 0);
    int64_t *held = (int64_t *)(res + (int64_t)XNV_BW_PX * ob8);
    int nan = 0;
    float *zero = scratch + p->kh * slot; /* the rows outside the image */
    for (int dy = 0; dy < p->kh; dy++) held[dy] = -1;
    for (int64_t r = r0; r < r1 && (!p->own || xnv_steal_take(p->own, r, 1)); r++) {
        const int64_t image = r / p->ho;
        const int iy = (int)(r % p->ho) * p->s - p->ph;
        float *slots[XNV_BW_MAX_KH];
        for (int dy = 0; dy < p->kh; dy++) { /* input row y in slot y mod kh: an output row's are distinct */
            const int y = iy + dy, k = y % p->kh;
            if (y < 0 || y >= p->h) {
                slots[dy] = zero;
                continue;
            }
            if (held[k] != image * p->h + y) {
                xnv_bw_fill(p, image * p->h + y, scratch + k * slot);
                held[k] = image * p->h + y;
            }
            slots[dy] = scratch + k * slot;
        }
        float *orow = p->out + r * p->wo * p->o;
        for (int ox0 = 0; ox0 < p->wo; ox0 += XNV_BW_PX) {
            const int npx = p->wo - ox0 < XNV_BW_PX ? p->wo - ox0 : XNV_BW_PX;
            const int direct = npx == XNV_BW_PX && p->o % 8 == 0; /* results straight into the output */
            float *dst = direct ? orow + (int64_t)ox0 * p->o : res;
            const int64_t dstride = direct ? p->o : ob8;
            uint8_t *sb = p->bits ? (uint8_t *)(p->bits + (r * p->wo + ox0) * words) : 0;
            for (int g0 = 0; g0 < G; g0 += chunk) {
                const int ng = G - g0 < chunk ? G - g0 : chunk, last = g0 + ng == G;
                xnv_bw_tables(p, slots, ox0, g0, ng, T);
                for (int ob = 0; ob < nob; ob++) {
                    xnv_bw_v acc[8];
                    xnv_bw_v *keep = (xnv_bw_v *)(partial + (int64_t)ob * 8 * XNV_BW_PX);
                    if (g0) memcpy(acc, keep, sizeof(acc));
                    xnv_bw_sum(p, T, ob, g0, ng, g0 == 0, acc);
                    if (last)
                        nan += xnv_bw_finish(p, ob, acc, dst + ob * 8, dstride, sb ? sb + ob : 0, words * 8, npx,
                                             lanes);
                    else
                        memcpy(keep, acc, sizeof(acc));
                }
            }
            for (int i = 0; i < npx; i++) {
                if (!direct)
                    memcpy(orow + (int64_t)(ox0 + i) * p->o, res + (int64_t)i * ob8, (size_t)p->o * sizeof(float));
                if (sb && nob < words * 8) memset(sb + i * words * 8 + nob, 0, (size_t)(words * 8 - nob));
            }
        }
    }
    return nan;
}

typedef int (*xnv_bwn_rows_t)(const xnv_bwn_t *p, int64_t r0, int64_t r1, float *scratch);

static int xnv_bwn_rows_base(const xnv_bwn_t *p, int64_t r0, int64_t r1, float *scratch) {
    return xnv_bw_rows(p, r0, r1, scratch, xnv_bw_lanes_c);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static int xnv_bwn_rows_avx2(const xnv_bwn_t *p, int64_t r0, int64_t r1,
                                                             float *scratch) {
    return xnv_bw_rows(p, r0, r1, scratch, xnv_bw_lanes_avx2);
}
#endif

/* The rows function of a path (xnv_simd.h's numbering): AVX2's vectors wherever the CPU has them (AVX-512
 * included), else the baseline's (SSE2 on x86-64, NEON on AArch64): the same operations, the same bits. */
static xnv_bwn_rows_t xnv_bwn_rows(int path) {
#if defined(__x86_64__)
    if (path == XNV_PATH_AVX2 || path == XNV_PATH_AVX512) return xnv_bwn_rows_avx2;
#endif
    (void)path;
    return xnv_bwn_rows_base;
}

#endif
