/* SIMD popcount paths for the binary kernels, chosen at run time (the build never uses -march=native).
 *
 * Each path provides:
 *   - a microkernel: ±1 dot products over one tile of npx <= xnv_tile(path) output pixels x XNV_BLK output
 *     channels, out[p][c] = k - 2 * sum_t sum_j popcount(xp[p][tapoff[t] + j] ^ w[(t * wc + j) * XNV_BLK + c])
 *     (out[p] may point straight into the output tensor);
 *     the weights of a block are interleaved by channel so one vector holds 8 (AVX-512) channels' words
 *     and each input word is broadcast: no horizontal sums, any channel count (AVX2 stores each weight
 *     and input word as two, its nibbles apart, its blocks laid out otherwise: xnv_store_weight);
 *   - a peak loop: the same XOR + popcount + add on registers only, the ceiling the kernels are held to;
 * and, where a vector form pays (AVX-512 and AVX2; portable C elsewhere), the fused epilogues of a block (the
 * float32 affine, and the sign bits c = acc[c] < thr[c] as one compare-to-mask) and the sign bits of a
 * float row (pack_bits).
 * AVX-512 VPOPCNTDQ and AVX2 (nibble table) are compiled with __attribute__((target)) and picked with
 * __builtin_cpu_supports; NEON is the AArch64 baseline; the portable path is plain C.
 */
#ifndef XNV_SIMD_H
#define XNV_SIMD_H

#include <stdint.h>

#include "xnv_eltwise.h" /* xnv_epilogue_row: the fused epilogue's baseline (SSE2 / NEON / C) */

#define XNV_BLK 32 /* output channels per weight block */
#define XNV_TILE 4 /* output pixels per microkernel call (AVX2: 8, see xnv_tile) */
#define XNV_TILE_MAX 8
#define XNV_PEAK_ACC 12 /* independent accumulators in the peak loops */
#define XNV_NIBBLES 0x0F0F0F0F0F0F0F0FULL /* the low nibble of every byte */

enum { XNV_PATH_PORTABLE = 0, XNV_PATH_AVX2 = 1, XNV_PATH_AVX512 = 2, XNV_PATH_NEON = 3 };
enum { XNV_CPU_AVX2 = 1, XNV_CPU_AVX512F = 2, XNV_CPU_AVX512_VPOPCNTDQ = 4, XNV_CPU_NEON = 8, XNV_CPU_POPCNT = 16 };

typedef void (*xnv_ukernel_t)(uint64_t **xp, const uint64_t *w, const int64_t *tapoff, int ntaps, int wc,
                              int32_t k, int32_t **out, int npx);
/* the sign bits of a tile's npx pixels of one block: out[p * stride] = (acc[p][c] < thr[c] bits) ^ flip */
typedef void (*xnv_signs_t)(const int32_t *acc, int npx, const int32_t *thr, uint32_t flip, uint32_t *out,
                            int64_t stride);
typedef void (*xnv_affine_t)(const int32_t *acc, const float *scale, const float *bias, float *out);
/* a binary conv's fused float epilogue (residual, PReLU, sign bits) on a tile: see xnv_epilogue_tile_row */
typedef void (*xnv_epilogue_t)(const int32_t *acc, int npx, const float *scale, const float *bias, const float *r,
                               const float *a, float *out, int64_t stride, uint32_t *bits, int64_t bstride, int n,
                               int *nan);

static inline int xnv_popcount64(uint64_t v) { return __builtin_popcountll(v); }

/* ------------------------------------------------------------------------------------------ portable */
static void xnv_uk_portable(uint64_t **xp, const uint64_t *w, const int64_t *tapoff, int ntaps, int wc,
                            int32_t k, int32_t **out, int npx) {
    for (int p = 0; p < npx; p++) {
        int64_t acc[XNV_BLK] = {0};
        const uint64_t *wp = w;
        for (int t = 0; t < ntaps; t++) {
            const uint64_t *x = xp[p] + tapoff[t];
            for (int j = 0; j < wc; j++, wp += XNV_BLK) {
                uint64_t xv = x[j];
                for (int c = 0; c < XNV_BLK; c++) acc[c] += xnv_popcount64(xv ^ wp[c]);
            }
        }
        for (int c = 0; c < XNV_BLK; c++) out[p][c] = k - 2 * (int32_t)acc[c];
    }
}

static inline uint32_t xnv_signbits_portable(const int32_t *acc, const int32_t *thr) {
    uint32_t bits = 0;
    for (int c = 0; c < XNV_BLK; c++) bits |= (uint32_t)(acc[c] < thr[c]) << c;
    return bits;
}

/* A path's xnv_signs_t from its one-pixel xnv_signbits_##P, inlined into one call a tile (a call a pixel
 * through a pointer, and the output's address worked out in the caller, were a tenth of a 56x56x64 conv
 * with packed-signs output on AVX-512). */
#define XNV_SIGNS(ATTR, P)                                                                                  \
    ATTR static void xnv_signs_##P(const int32_t *acc, int npx, const int32_t *thr, uint32_t flip,         \
                                   uint32_t *out, int64_t stride) {                                          \
        for (int p = 0; p < npx; p++) out[p * stride] = xnv_signbits_##P(acc + p * XNV_BLK, thr) ^ flip;     \
    }
XNV_SIGNS(, portable)

/* Sign bits of one row of c floats (bit = 1 where x < 0); returns nonzero if the row holds a NaN. */
static int xnv_pack_f32_portable(const float *x, int64_t c, uint64_t *out) {
    int nan = 0;
    for (int64_t w = 0; w * 64 < c; w++) {
        uint64_t bits = 0;
        int64_t n = c - w * 64 < 64 ? c - w * 64 : 64;
        for (int64_t j = 0; j < n; j++) {
            float v = x[w * 64 + j];
            bits |= (uint64_t)(v < 0) << j;
            nan |= v != v;
        }
        out[w] = bits;
    }
    return nan;
}

/* out[c] = scale[c] * (float)acc[c] + bias[c] for a block, rounded twice (the build forbids FMA contraction). */
static void xnv_affine_portable(const int32_t *acc, const float *scale, const float *bias, float *out) {
    for (int c = 0; c < XNV_BLK; c++) out[c] = scale[c] * (float)acc[c] + bias[c];
}

static uint64_t xnv_peak_portable(int64_t iters) {
    uint64_t x[XNV_PEAK_ACC], acc[XNV_PEAK_ACC];
    const uint64_t w = 0x5555555555555555ULL;
    for (int k = 0; k < XNV_PEAK_ACC; k++) { x[k] = 0x9E3779B97F4A7C15ULL * (uint64_t)(k + 1); acc[k] = 0; }
    for (int64_t i = 0; i < iters; i++) {
        for (int k = 0; k < XNV_PEAK_ACC; k++) acc[k] += (uint64_t)xnv_popcount64(x[k] ^ w);
        __asm__ volatile("" : "+m"(x));
    }
    uint64_t s = 0;
    for (int k = 0; k < XNV_PEAK_ACC; k++) s += acc[k];
    return s;
}

/* The fused epilogue of ``npx`` consecutive pixels of one block of n <= XNV_BLK channels: pixel p's
 * accumulators are acc[p * XNV_BLK ...], its residual r + p * stride, its output out + p * stride, and (when
 * ``bits`` is not NULL) its sign bits go to bits[p * bstride]; NaN results raise *nan (here by their count,
 * on AVX-512 by one a tile): only whether it is nonzero counts. */
static void xnv_epilogue_tile_row(const int32_t *acc, int npx, const float *scale, const float *bias,
                                  const float *r, const float *a, float *out, int64_t stride, uint32_t *bits,
                                  int64_t bstride, int n, int *nan) {
    for (int p = 0; p < npx; p++) {
        uint32_t b = xnv_epilogue_row(acc + p * XNV_BLK, scale, bias, r ? r + p * stride : NULL, a,
                                      out + p * stride, n, nan);
        if (bits) bits[p * bstride] = b;
    }
}

/* ------------------------------------------------------------------------------------------------ x86 */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

#define XNV_AVX512 __attribute__((target("avx512f,avx512vpopcntdq")))
#define XNV_ACC512(a, b, wv) a = _mm512_add_epi64(a, _mm512_popcnt_epi64(_mm512_xor_si512(b, wv)))

/* 16 channels' dot products k - 2 * popcounts (two vectors of 8 int64 counts) as one 64-byte store, which
 * the epilogue's 64-byte load of them can take straight from the store buffer (two 32-byte stores cannot
 * forward to one load, and a masked load waits for every store before it to reach the cache). */
XNV_AVX512 static inline void xnv_store_dots_avx512(int32_t k, __m512i lo, __m512i hi, int32_t *out) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i v = _mm512_permutex2var_epi32(lo, even, hi);
    _mm512_storeu_si512(out, _mm512_sub_epi32(_mm512_set1_epi32(k), _mm512_add_epi32(v, v)));
}

/* One pixel x 32 channels: the tail of a pixel range shorter than a tile. */
XNV_AVX512 static void xnv_uk_avx512_1px(const uint64_t *xp, const uint64_t *w, const int64_t *tapoff, int ntaps,
                                         int wc, int32_t k, int32_t *out) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    const uint64_t *wp = w;
    for (int t = 0; t < ntaps; t++) {
        const uint64_t *x = xp + tapoff[t];
        for (int j = 0; j < wc; j++, wp += XNV_BLK) {
            __m512i b = _mm512_set1_epi64((long long)x[j]);
            XNV_ACC512(a0, b, _mm512_loadu_si512(wp)); XNV_ACC512(a1, b, _mm512_loadu_si512(wp + 8));
            XNV_ACC512(a2, b, _mm512_loadu_si512(wp + 16)); XNV_ACC512(a3, b, _mm512_loadu_si512(wp + 24));
        }
    }
    xnv_store_dots_avx512(k, a0, a1, out);
    xnv_store_dots_avx512(k, a2, a3, out + 16);
}

XNV_AVX512 static void xnv_uk_avx512(uint64_t **xp, const uint64_t *w, const int64_t *tapoff, int ntaps, int wc,
                                     int32_t k, int32_t **out, int npx) {
    if (npx < XNV_TILE) {
        for (int p = 0; p < npx; p++) xnv_uk_avx512_1px(xp[p], w, tapoff, ntaps, wc, k, out[p]);
        return;
    }
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
            a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    const uint64_t *wp = w;
    for (int t = 0; t < ntaps; t++) {
        const uint64_t *x0 = xp[0] + tapoff[t], *x1 = xp[1] + tapoff[t];
        const uint64_t *x2 = xp[2] + tapoff[t], *x3 = xp[3] + tapoff[t];
        for (int j = 0; j < wc; j++, wp += XNV_BLK) {
            __m512i w0 = _mm512_loadu_si512(wp), w1 = _mm512_loadu_si512(wp + 8);
            __m512i w2 = _mm512_loadu_si512(wp + 16), w3 = _mm512_loadu_si512(wp + 24);
            __m512i b = _mm512_set1_epi64((long long)x0[j]);
            XNV_ACC512(a00, b, w0); XNV_ACC512(a01, b, w1); XNV_ACC512(a02, b, w2); XNV_ACC512(a03, b, w3);
            b = _mm512_set1_epi64((long long)x1[j]);
            XNV_ACC512(a10, b, w0); XNV_ACC512(a11, b, w1); XNV_ACC512(a12, b, w2); XNV_ACC512(a13, b, w3);
            b = _mm512_set1_epi64((long long)x2[j]);
            XNV_ACC512(a20, b, w0); XNV_ACC512(a21, b, w1); XNV_ACC512(a22, b, w2); XNV_ACC512(a23, b, w3);
            b = _mm512_set1_epi64((long long)x3[j]);
            XNV_ACC512(a30, b, w0); XNV_ACC512(a31, b, w1); XNV_ACC512(a32, b, w2); XNV_ACC512(a33, b, w3);
        }
    }
    xnv_store_dots_avx512(k, a00, a01, out[0]); xnv_store_dots_avx512(k, a02, a03, out[0] + 16);
    xnv_store_dots_avx512(k, a10, a11, out[1]); xnv_store_dots_avx512(k, a12, a13, out[1] + 16);
    xnv_store_dots_avx512(k, a20, a21, out[2]); xnv_store_dots_avx512(k, a22, a23, out[2] + 16);
    xnv_store_dots_avx512(k, a30, a31, out[3]); xnv_store_dots_avx512(k, a32, a33, out[3] + 16);
}

XNV_AVX512 static inline uint32_t xnv_signbits_avx512(const int32_t *acc, const int32_t *thr) {
    __mmask16 lo = _mm512_cmplt_epi32_mask(_mm512_loadu_si512(acc), _mm512_loadu_si512(thr));
    __mmask16 hi = _mm512_cmplt_epi32_mask(_mm512_loadu_si512(acc + 16), _mm512_loadu_si512(thr + 16));
    return (uint32_t)lo | ((uint32_t)hi << 16);
}
XNV_SIGNS(XNV_AVX512, avx512)

__attribute__((target("avx512f"))) static int xnv_pack_f32_avx512(const float *x, int64_t c, uint64_t *out) {
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 nan = 0;
    for (int64_t w = 0; w * 64 < c; w++) {
        uint64_t bits = 0;
        for (int q = 0; q < 4; q++) {
            int64_t i = w * 64 + q * 16, n = c - i;
            if (n <= 0) break;
            __mmask16 live = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
            __m512 v = _mm512_maskz_loadu_ps(live, x + i); /* dead lanes read as 0: neither < 0 nor NaN */
            bits |= (uint64_t)_mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ) << (16 * q);
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        }
        out[w] = bits;
    }
    return nan != 0;
}

XNV_AVX512 static void xnv_affine_avx512(const int32_t *acc, const float *scale, const float *bias, float *out) {
    for (int h = 0; h < XNV_BLK; h += 16) {
        __m512 y = _mm512_mul_ps(_mm512_loadu_ps(scale + h), _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + h)));
        _mm512_storeu_ps(out + h, _mm512_add_ps(y, _mm512_loadu_ps(bias + h)));
    }
}

/* xnv_epilogue_tile_row on 16 lanes, n <= 32 channels. The block's scale, bias and slope are loaded once
 * for the tile's pixels. Each pixel's row of ``acc`` is XNV_BLK values however short the block: it is read
 * whole, unmasked (see xnv_store_dots_avx512; the unused lanes' values go nowhere). A pixel's residual and
 * output are loaded and stored masked only in a short last block (``full``, a constant where inlined): on
 * AMD a masked store costs several unmasked ones (a 56x56x64 fused conv 2% faster on Zen 4). */
#define XNV_EP512_LOAD(m, p) (full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p))
#define XNV_EP512_STORE(p, m, v) (full ? _mm512_storeu_ps(p, v) : _mm512_mask_storeu_ps(p, m, v))

XNV_AVX512 static inline __attribute__((always_inline)) void xnv_epilogue_avx512_n(
    const int32_t *acc, int npx, const float *scale, const float *bias, const float *r, const float *a,
    float *out, int64_t stride, uint32_t *bits, int64_t bstride, int n, int *nan, const int full) {
    const __m512 zero = _mm512_setzero_ps();
    const __mmask16 m0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const __mmask16 m1 = n >= 32 ? (__mmask16)0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
    const __m512 s0 = _mm512_maskz_loadu_ps(m0, scale), s1 = _mm512_maskz_loadu_ps(m1, scale + 16);
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, bias), b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    const __m512 a0 = a ? _mm512_maskz_loadu_ps(m0, a) : zero, a1 = a ? _mm512_maskz_loadu_ps(m1, a + 16) : zero;
    __mmask16 nans = 0; /* lanes where a pixel's v0 or v1 was NaN (dead lanes are 0): one compare a pixel */
    for (int p = 0; p < npx; p++, acc += XNV_BLK, out += stride) {
        __m512 v0 = _mm512_add_ps(_mm512_mul_ps(s0, _mm512_cvtepi32_ps(_mm512_loadu_si512(acc))), b0);
        __m512 v1 = _mm512_add_ps(_mm512_mul_ps(s1, _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + 16))), b1);
        if (r) {
            v0 = _mm512_add_ps(v0, XNV_EP512_LOAD(m0, r + p * stride));
            v1 = _mm512_add_ps(v1, XNV_EP512_LOAD(m1, r + p * stride + 16));
        }
        if (a) {
            v0 = _mm512_mask_mul_ps(v0, _mm512_cmp_ps_mask(v0, zero, _CMP_LT_OQ), v0, a0);
            v1 = _mm512_mask_mul_ps(v1, _mm512_cmp_ps_mask(v1, zero, _CMP_LT_OQ), v1, a1);
        }
        XNV_EP512_STORE(out, m0, v0);
        XNV_EP512_STORE(out + 16, m1, v1);
        if (bits)
            bits[p * bstride] = (uint32_t)_mm512_mask_cmp_ps_mask(m0, v0, zero, _CMP_LT_OQ)
                                | (uint32_t)_mm512_mask_cmp_ps_mask(m1, v1, zero, _CMP_LT_OQ) << 16;
        nans |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q);
    }
    *nan += nans != 0;
}

XNV_AVX512 static void xnv_epilogue_avx512(const int32_t *acc, int npx, const float *scale, const float *bias,
                                           const float *r, const float *a, float *out, int64_t stride,
                                           uint32_t *bits, int64_t bstride, int n, int *nan) {
    if (n == XNV_BLK)
        xnv_epilogue_avx512_n(acc, npx, scale, bias, r, a, out, stride, bits, bstride, n, nan, 1);
    else
        xnv_epilogue_avx512_n(acc, npx, scale, bias, r, a, out, stride, bits, bstride, n, nan, 0);
}

XNV_AVX512 static uint64_t xnv_peak_avx512(int64_t iters) {
    const __m512i w = _mm512_set1_epi64(0x5555555555555555LL);
    __m512i x0 = _mm512_set1_epi64(1), x1 = _mm512_set1_epi64(2), x2 = _mm512_set1_epi64(3),
            x3 = _mm512_set1_epi64(4), x4 = _mm512_set1_epi64(5), x5 = _mm512_set1_epi64(6),
            x6 = _mm512_set1_epi64(7), x7 = _mm512_set1_epi64(8), x8 = _mm512_set1_epi64(9),
            x9 = _mm512_set1_epi64(10), x10 = _mm512_set1_epi64(11), x11 = _mm512_set1_epi64(12);
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0,
            c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    for (int64_t i = 0; i < iters; i++) {
        XNV_ACC512(c0, x0, w); XNV_ACC512(c1, x1, w); XNV_ACC512(c2, x2, w); XNV_ACC512(c3, x3, w);
        XNV_ACC512(c4, x4, w); XNV_ACC512(c5, x5, w); XNV_ACC512(c6, x6, w); XNV_ACC512(c7, x7, w);
        XNV_ACC512(c8, x8, w); XNV_ACC512(c9, x9, w); XNV_ACC512(c10, x10, w); XNV_ACC512(c11, x11, w);
        /* The inputs "change" every iteration, so the XORs and popcounts cannot be hoisted. */
        __asm__ volatile("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(x4), "+v"(x5), "+v"(x6), "+v"(x7),
                         "+v"(x8), "+v"(x9), "+v"(x10), "+v"(x11));
    }
    __m512i s = _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(c0, c1), _mm512_add_epi64(c2, c3)),
                                 _mm512_add_epi64(_mm512_add_epi64(c4, c5), _mm512_add_epi64(c6, c7)));
    s = _mm512_add_epi64(s, _mm512_add_epi64(_mm512_add_epi64(c8, c9), _mm512_add_epi64(c10, c11)));
    return (uint64_t)_mm512_reduce_add_epi64(s);
}

#define XNV_AVX2 __attribute__((target("avx2")))

/* AVX2 has no popcount instruction: bytes are counted through a 4-bit table (Mula's method), one vpshufb for
 * the low nibbles and one for the high ones. The weights are stored nibble-split (xnv_store_weight): for
 * each input word, a half block's 16 channels' low nibbles, then their high nibbles shifted down; the padded
 * input is split the same way. The XOR of a stored nibble word with a broadcast input nibble word is then a
 * table index as it stands: 6 vector ops per 4 channels x 64 bits (2 XORs, 2 lookups, 2 byte adds) where the
 * unsplit words took 8 (a shift and two masks more). */
#define XNV_AVX2_FLUSH 31 /* a word adds up to 8 to a byte counter: flush to 64-bit sums every 31 words */

XNV_AVX2 static inline __m256i xnv_lut4_avx2(void) {
    return _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
                            3, 3, 4);
}

/* acc += popcount per byte of (xl ^ wl) and of (xh ^ wh): the nibble pairs of 4 channels' words. */
#define XNV_NIB2(acc, lut, xl, xh, wl, wh) \
    acc = _mm256_add_epi8(_mm256_add_epi8(acc, _mm256_shuffle_epi8(lut, _mm256_xor_si256(xl, wl))), \
                          _mm256_shuffle_epi8(lut, _mm256_xor_si256(xh, wh)))

/* out[0..7] = from - 2 * sums of 8 channels (two vectors of four 64-bit lanes, < 2^31, in channel order);
 * from is k in the first stretch, else out itself. */
XNV_AVX2 static inline void xnv_sub_dots_avx2(__m256i lo, __m256i hi, __m256i from, int32_t *out) {
    /* the low dwords of each lane: [c0 c1 c4 c5 | c2 c3 c6 c7], then the middle 64-bit halves swapped */
    __m256i v = _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi),
                                                      _MM_SHUFFLE(2, 0, 2, 0)));
    v = _mm256_permute4x64_epi64(v, _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_si256((__m256i *)out, _mm256_sub_epi32(from, _mm256_add_epi32(v, v)));
}

/* One input word of two pixels (nibbles at xa[0], xa[1] and xb[0], xb[1]) into the byte counters of 16
 * channels (a0..a3, b0..b3), the weights' nibbles at w (low) and w + 16 words (high); the word sits WD bytes
 * past WP (weights) and XD bytes past PA and PB (the two pixels), both literal expressions, so a run of
 * words at constant places needs no pointer step or test between its words. In assembly because gcc, given
 * the same steps as intrinsics, kept three of the eight counters on the stack and moved others between
 * registers every word. Here the counters and the table are all that lives from word to word; the four
 * broadcast inputs and two temporaries complete the 15 registers, and each weight is read from memory by
 * both pixels' XORs. The caller pins every operand to its register (local register variables): left to
 * choose, gcc gave the counters other registers inside the statement than around it, 8 moves in and 8 out
 * of every word, and reloaded the table each time. */
#define XNV_AVX2_NIBD(WD, v, x, lo, hi)                                                                     \
    "vpxor " #WD "+" #v "*32(%[w]), %[" #lo "], %[t0]\n\t"                                                  \
    "vpxor " #WD "+128+" #v "*32(%[w]), %[" #hi "], %[t1]\n\t"                                              \
    "vpshufb %[t0], %[lut], %[t0]\n\t"                                                                      \
    "vpshufb %[t1], %[lut], %[t1]\n\t"                                                                      \
    "vpaddb %[t0], %[" #x #v "], %[" #x #v "]\n\t"                                                          \
    "vpaddb %[t1], %[" #x #v "], %[" #x #v "]\n\t"
#define XNV_AVX2_WORDD(WP, PA, PB, WD, XD)                                                                  \
    __asm__("vpbroadcastq " #XD "(%[xa]), %[la]\n\t"                                                        \
            "vpbroadcastq " #XD "+8(%[xa]), %[ha]\n\t"                                                      \
            "vpbroadcastq " #XD "(%[xb]), %[lb]\n\t"                                                        \
            "vpbroadcastq " #XD "+8(%[xb]), %[hb]\n\t"                                                      \
            XNV_AVX2_NIBD(WD, 0, a, la, ha) XNV_AVX2_NIBD(WD, 0, b, lb, hb) XNV_AVX2_NIBD(WD, 1, a, la, ha)    \
            XNV_AVX2_NIBD(WD, 1, b, lb, hb) XNV_AVX2_NIBD(WD, 2, a, la, ha) XNV_AVX2_NIBD(WD, 2, b, lb, hb)    \
            XNV_AVX2_NIBD(WD, 3, a, la, ha) XNV_AVX2_NIBD(WD, 3, b, lb, hb)                                   \
            : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3), [b0] "+x"(b0), [b1] "+x"(b1),     \
              [b2] "+x"(b2), [b3] "+x"(b3), [t0] "=&x"(t0), [t1] "=&x"(t1), [la] "=&x"(la), [ha] "=&x"(ha), \
              [lb] "=&x"(lb), [hb] "=&x"(hb)                                                                \
            : [w] "r"(WP), [xa] "r"(PA), [xb] "r"(PB), [lut] "x"(lut)                                       \
            : "memory")
/* the word at WP, PA and PB themselves */
#define XNV_AVX2_WORD(WP, PA, PB) XNV_AVX2_WORDD(WP, PA, PB, 0, 0)
/* word J of a tap: XNV_BLK words (256 bytes) of weights and 2 input words (16 bytes) a word */
#define XNV_AVX2_WORDJ(WP, PA, PB, J) XNV_AVX2_WORDD(WP, PA, PB, J*256, J*16)
#define XNV_AVX2_TAP2(WP, PA, PB) XNV_AVX2_WORDJ(WP, PA, PB, 0); XNV_AVX2_WORDJ(WP, PA, PB, 1)
#define XNV_AVX2_TAP4(WP, PA, PB) XNV_AVX2_TAP2(WP, PA, PB); XNV_AVX2_WORDJ(WP, PA, PB, 2); \
    XNV_AVX2_WORDJ(WP, PA, PB, 3)
#define XNV_AVX2_TAP8(WP, PA, PB) XNV_AVX2_TAP4(WP, PA, PB); XNV_AVX2_WORDJ(WP, PA, PB, 4); \
    XNV_AVX2_WORDJ(WP, PA, PB, 5); XNV_AVX2_WORDJ(WP, PA, PB, 6); XNV_AVX2_WORDJ(WP, PA, PB, 7)

/* The registers XNV_AVX2_WORD names, each pinned to its own (local register variables): the 8 byte counters,
 * zeroed, and the word's 6 temporaries. */
#define XNV_AVX2_COUNTERS                                                                                   \
    register __m256i a0 __asm__("ymm0") = zero, a1 __asm__("ymm1") = zero, a2 __asm__("ymm2") = zero,       \
                     a3 __asm__("ymm3") = zero, b0 __asm__("ymm4") = zero, b1 __asm__("ymm5") = zero,       \
                     b2 __asm__("ymm6") = zero, b3 __asm__("ymm7") = zero;                                   \
    register __m256i t0 __asm__("ymm8"), t1 __asm__("ymm9"), la __asm__("ymm10"), ha __asm__("ymm11"),     \
                     lb __asm__("ymm12"), hb __asm__("ymm13")

/* A stretch's byte counters into the outputs of its two pixels (a0..a3 pixel a's 16 channels, b0..b3 pixel
 * b's): out = from - 2 x the sums, from being k in a call's first stretch (stored at once: most layers have
 * one stretch), else what out holds. */
XNV_AVX2 static inline void xnv_avx2_flush(__m256i a0, __m256i a1, __m256i a2, __m256i a3, __m256i b0, __m256i b1,
                                           __m256i b2, __m256i b3, int first, __m256i kv, int32_t *oa, int32_t *ob) {
    const __m256i zero = _mm256_setzero_si256();
#define XNV_AVX2_FROM(o) (first ? kv : _mm256_loadu_si256((const __m256i *)(o)))
    xnv_sub_dots_avx2(_mm256_sad_epu8(a0, zero), _mm256_sad_epu8(a1, zero), XNV_AVX2_FROM(oa), oa);
    xnv_sub_dots_avx2(_mm256_sad_epu8(a2, zero), _mm256_sad_epu8(a3, zero), XNV_AVX2_FROM(oa + 8), oa + 8);
    xnv_sub_dots_avx2(_mm256_sad_epu8(b0, zero), _mm256_sad_epu8(b1, zero), XNV_AVX2_FROM(ob), ob);
    xnv_sub_dots_avx2(_mm256_sad_epu8(b2, zero), _mm256_sad_epu8(b3, zero), XNV_AVX2_FROM(ob + 8), ob + 8);
#undef XNV_AVX2_FROM
}

/* xnv_uk_avx2_pair for calls of one stretch (ntaps * wc <= XNV_AVX2_FLUSH: 3x3 convs of up to 192
 * channels), tap by tap: the stretch loop's per-word test for the next tap was 4 of a word's ~60
 * instructions on 64 channels (one word a tap), where the front end, not the vector units, set the pace
 * (fused 40x52x64 and 56x56x64 convs 0.96x the time, 28x28x128 0.97x; the general loop's layers 14x14x256
 * and 7x7x512 1.005-1.016x, a cost of the larger caller). */
XNV_AVX2 static inline void xnv_uk_avx2_pair1(const uint64_t *xa, const uint64_t *xb, const uint64_t *w,
                                              const int64_t *tapoff, int ntaps, int wc, int32_t k, int32_t *oa,
                                              int32_t *ob) {
    const __m256i zero = _mm256_setzero_si256(), kv = _mm256_set1_epi32(k);
    register __m256i lut __asm__("ymm15") = xnv_lut4_avx2();
    XNV_AVX2_COUNTERS;
    if (wc == 1)
        for (int t = 0; t < ntaps; t++) XNV_AVX2_WORD(w + (int64_t)t * 2 * XNV_BLK, xa + tapoff[t], xb + tapoff[t]);
    else
        for (int t = 0; t < ntaps; t++) { /* past the other half's words of each tap */
            const uint64_t *wt = w + (int64_t)t * 2 * wc * XNV_BLK, *pa = xa + tapoff[t], *pb = xb + tapoff[t];
            for (int j = 0; j < wc; j++) XNV_AVX2_WORD(wt + j * XNV_BLK, pa + 2 * j, pb + 2 * j);
        }
    xnv_avx2_flush(a0, a1, a2, a3, b0, b1, b2, b3, 1, kv, oa, ob);
}

/* Two pixels x 16 channels (half of a block): xa and xb may be the same pixel (an odd pixel's pair). The
 * input is nibble-split as the weights are (bconv's padding step writes each word as two): a pixel's word j
 * is its low nibbles at x[2j] and its high nibbles at x[2j + 1]. The words run in stretches of at most
 * XNV_AVX2_FLUSH, each ending in the outputs: the loop then holds only the byte counters, the four input
 * vectors and the table, and nothing is spilled (with the flush inside it, gcc moved sums through the
 * stack on every word). */
XNV_AVX2 static inline void xnv_uk_avx2_pair(const uint64_t *xa, const uint64_t *xb, const uint64_t *w,
                                             const int64_t *tapoff, int ntaps, int wc, int32_t k, int32_t *oa,
                                             int32_t *ob) {
    const __m256i zero = _mm256_setzero_si256(), kv = _mm256_set1_epi32(k);
    register __m256i lut __asm__("ymm15") = xnv_lut4_avx2();
    const uint64_t *wp = w, *pa = xa + tapoff[0], *pb = xb + tapoff[0];
    int t = 0, j = 0; /* the next word: word j of tap t */
    for (int left = ntaps * wc, first = 1; left > 0; first = 0) {
        int n = left < XNV_AVX2_FLUSH ? left : XNV_AVX2_FLUSH;
        left -= n;
        XNV_AVX2_COUNTERS;
        for (; n > 0; n--) {
            XNV_AVX2_WORD(wp, pa, pb);
            wp += XNV_BLK;
            pa += 2;
            pb += 2;
            if (++j == wc) { /* the next tap: past the other half's words of this one */
                wp += (int64_t)wc * XNV_BLK;
                if (++t < ntaps) {
                    j = 0;
                    pa = xa + tapoff[t];
                    pb = xb + tapoff[t];
                }
            }
        }
        xnv_avx2_flush(a0, a1, a2, a3, b0, b1, b2, b3, first, kv, oa, ob);
    }
}

/* xnv_uk_avx2_pair for taps of WC = 2, 4 or 8 words (128, 256, 512 channels: most binary MACs of ResNet-18,
 * vgg-small and the faces net), the stretches whole taps (XNV_AVX2_FLUSH / WC of them) and each tap's words
 * unrolled (XNV_AVX2_TAP##WC): the general loop's per-word pointer steps and next-tap test are gone. */
#define XNV_AVX2_PAIRW(WC)                                                                                  \
    XNV_AVX2 static inline void xnv_uk_avx2_pair##WC(const uint64_t *xa, const uint64_t *xb, const uint64_t *w, \
                                                     const int64_t *tapoff, int ntaps, int32_t k, int32_t *oa, \
                                                     int32_t *ob) {                                        \
        const __m256i zero = _mm256_setzero_si256(), kv = _mm256_set1_epi32(k);                             \
        register __m256i lut __asm__("ymm15") = xnv_lut4_avx2();                                            \
        for (int s0 = 0; s0 < ntaps; s0 += XNV_AVX2_FLUSH / (WC)) {                                         \
            const int s1 = s0 + XNV_AVX2_FLUSH / (WC) < ntaps ? s0 + XNV_AVX2_FLUSH / (WC) : ntaps;           \
            XNV_AVX2_COUNTERS;                                                                              \
            for (int t = s0; t < s1; t++) { /* past the other half's words of each tap */                   \
                const uint64_t *wt = w + (int64_t)t * 2 * (WC) * XNV_BLK, *pa = xa + tapoff[t],             \
                               *pb = xb + tapoff[t];                                                        \
                XNV_AVX2_TAP##WC(wt, pa, pb);                                                               \
            }                                                                                               \
            xnv_avx2_flush(a0, a1, a2, a3, b0, b1, b2, b3, s0 == 0, kv, oa, ob);                            \
        }                                                                                                   \
    }
XNV_AVX2_PAIRW(2)
XNV_AVX2_PAIRW(4)
XNV_AVX2_PAIRW(8)

/* A 3x3 kernel's taps (9 of them at rows of 3 neighbouring pixels: tap dy * 3 + dx at dy * rs + 2 * dx * wc
 * words): rs, else 0 (other kernels, and the tap sums' one-tap calls). */
static inline int64_t xnv_avx2_rows3(const int64_t *tapoff, int ntaps, int wc) {
    if (ntaps != 9) return 0;
    const int64_t rs = tapoff[3];
    for (int t = 0; t < 9; t++)
        if (tapoff[t] != t / 3 * rs + t % 3 * 2 * wc) return 0;
    return rs;
}

/* xnv_uk_avx2_pair1 for a 3x3 kernel on one word a tap (64 channels: ResNet-18's 56x56 layers, the faces
 * net's stride-8 ones), a row of taps at a time: its 3 words at constant places (tap dx: weights dx * 2 *
 * XNV_BLK words on, input 2 * dx words on), where each tap loaded its offset and stepped three pointers. */
XNV_AVX2 static inline void xnv_uk_avx2_pair33(const uint64_t *xa, const uint64_t *xb, const uint64_t *w,
                                               int64_t rs, int32_t k, int32_t *oa, int32_t *ob) {
    const __m256i zero = _mm256_setzero_si256(), kv = _mm256_set1_epi32(k);
    register __m256i lut __asm__("ymm15") = xnv_lut4_avx2();
    XNV_AVX2_COUNTERS;
    for (int dy = 0; dy < 3; dy++) {
        const uint64_t *wt = w + dy * 3 * 2 * XNV_BLK, *pa = xa + dy * rs, *pb = xb + dy * rs;
        XNV_AVX2_WORDD(wt, pa, pb, 0, 0);
        XNV_AVX2_WORDD(wt, pa, pb, 512, 16);
        XNV_AVX2_WORDD(wt, pa, pb, 1024, 32);
    }
    xnv_avx2_flush(a0, a1, a2, a3, b0, b1, b2, b3, 1, kv, oa, ob);
}

/* Pixels in pairs, each pair through the block's two halves of 16 channels: 8 byte counters, the two pixels'
 * input nibbles and the table fill the 16 registers, and each weight load serves both pixels. */
XNV_AVX2 static void xnv_uk_avx2(uint64_t **xp, const uint64_t *w, const int64_t *tapoff, int ntaps, int wc,
                                 int32_t k, int32_t **out, int npx) {
    int32_t spare[16]; /* an odd pixel's twin writes here */
/* every pair of the tile through both halves (wh: the half's weights; oa, ob: the pair's outputs), the
 * kernel picked once a call */
#define XNV_AVX2_PAIRS(CALL)                                                                                \
    for (int h = 0; h < 2; h++)                                                                             \
        for (int p = 0; p < npx; p += 2) {                                                                  \
            const int q = p + 1 < npx ? p + 1 : p;                                                          \
            const uint64_t *wh = w + (int64_t)h * wc * XNV_BLK;                                             \
            int32_t *oa = out[p] + 16 * h, *ob = q == p ? spare : out[q] + 16 * h;                          \
            CALL;                                                                                           \
        }
    int64_t rs;
    switch (wc) {
    case 2: XNV_AVX2_PAIRS(xnv_uk_avx2_pair2(xp[p], xp[q], wh, tapoff, ntaps, k, oa, ob)); break;
    case 4: XNV_AVX2_PAIRS(xnv_uk_avx2_pair4(xp[p], xp[q], wh, tapoff, ntaps, k, oa, ob)); break;
    case 8: XNV_AVX2_PAIRS(xnv_uk_avx2_pair8(xp[p], xp[q], wh, tapoff, ntaps, k, oa, ob)); break;
    default:
        if (wc == 1 && (rs = xnv_avx2_rows3(tapoff, ntaps, wc)) != 0)
            XNV_AVX2_PAIRS(xnv_uk_avx2_pair33(xp[p], xp[q], wh, rs, k, oa, ob))
        else if (ntaps * wc <= XNV_AVX2_FLUSH)
            XNV_AVX2_PAIRS(xnv_uk_avx2_pair1(xp[p], xp[q], wh, tapoff, ntaps, wc, k, oa, ob))
        else
            XNV_AVX2_PAIRS(xnv_uk_avx2_pair(xp[p], xp[q], wh, tapoff, ntaps, wc, k, oa, ob))
    }
#undef XNV_AVX2_PAIRS
}

/* The sign bits of a block, c = acc[c] < thr[c]: one compare and movemask per 8 channels. */
XNV_AVX2 static inline uint32_t xnv_signbits_avx2(const int32_t *acc, const int32_t *thr) {
    uint32_t bits = 0;
    for (int q = 0; q < XNV_BLK / 8; q++) {
        __m256i lt = _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)(thr + 8 * q)),
                                        _mm256_loadu_si256((const __m256i *)(acc + 8 * q)));
        bits |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(lt)) << (8 * q);
    }
    return bits;
}
XNV_SIGNS(XNV_AVX2, avx2)

XNV_AVX2 static void xnv_affine_avx2(const int32_t *acc, const float *scale, const float *bias, float *out) {
    for (int q = 0; q < XNV_BLK; q += 8) {
        __m256 y = _mm256_mul_ps(_mm256_loadu_ps(scale + q),
                                 _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + q))));
        _mm256_storeu_ps(out + q, _mm256_add_ps(y, _mm256_loadu_ps(bias + q)));
    }
}

/* xnv_epilogue_tile_row on 8 lanes for a whole block (a short last block takes the baseline): the block's
 * scale, bias and slope are loaded once for the tile's pixels, PReLU is a blend, and NaNs are one OR a
 * vector (the SSE2 row counted them with a popcount that x86-64's baseline has no instruction for: a
 * library call per 4 channels, 16% of a 56x56x64 conv's time). */
XNV_AVX2 static void xnv_epilogue_avx2(const int32_t *acc, int npx, const float *scale, const float *bias,
                                       const float *r, const float *a, float *out, int64_t stride,
                                       uint32_t *bits, int64_t bstride, int n, int *nan) {
    if (n < XNV_BLK) {
        xnv_epilogue_tile_row(acc, npx, scale, bias, r, a, out, stride, bits, bstride, n, nan);
        return;
    }
    const __m256 zero = _mm256_setzero_ps();
    __m256 nans = zero;
    /* the block's scale, bias and slope are read where they are used (L1, memory operands): held in arrays
     * of 4 vectors each, they lived on the stack, copied there in every call (and the slope's zeroed) */
    for (int p = 0; p < npx; p++, acc += XNV_BLK, out += stride) {
        uint32_t sign = 0;
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(scale + 8 * q),
                                     _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + 8 * q))));
            v = _mm256_add_ps(v, _mm256_loadu_ps(bias + 8 * q));
            if (r) v = _mm256_add_ps(v, _mm256_loadu_ps(r + p * stride + 8 * q));
            __m256 neg = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
            if (a) {
                v = _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_loadu_ps(a + 8 * q)), neg);
                neg = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
            }
            _mm256_storeu_ps(out + 8 * q, v);
            sign |= (uint32_t)_mm256_movemask_ps(neg) << (8 * q);
            nans = _mm256_or_ps(nans, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        }
        if (bits) bits[p * bstride] = sign;
    }
    *nan += _mm256_movemask_ps(nans) != 0;
}

/* Sign bits of a row of c floats, 8 at a time (xnv_pack_f32_portable for the rest of a word). */
XNV_AVX2 static int xnv_pack_f32_avx2(const float *x, int64_t c, uint64_t *out) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 nans = zero;
    int64_t w = 0;
    for (; (w + 1) * 64 <= c; w++) {
        uint64_t bits = 0;
        for (int q = 0; q < 8; q++) {
            __m256 v = _mm256_loadu_ps(x + w * 64 + 8 * q);
            bits |= (uint64_t)_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ)) << (8 * q);
            nans = _mm256_or_ps(nans, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        }
        out[w] = bits;
    }
    int nan = _mm256_movemask_ps(nans) != 0;
    if (w * 64 < c) nan |= xnv_pack_f32_portable(x + w * 64, c - w * 64, out + w);
    return nan;
}

/* The microkernel's inner step on registers only: per 4 channels x 64 bits, 2 XORs, 2 lookups, 2 byte adds.
 * Four counters, so that with the table, the inputs and two temporaries they stay in registers (six spilled
 * to the stack under gcc, and the loop measured the store forwarding, not the popcounts). */
#define XNV_AVX2_PEAK_ACC 4
XNV_AVX2 static uint64_t xnv_peak_avx2(int64_t iters) {
    const __m256i lut = xnv_lut4_avx2(), zero = _mm256_setzero_si256();
    const __m256i wl = _mm256_set1_epi8(0x05), wh = _mm256_set1_epi8(0x0a);
    __m256i x0 = _mm256_set1_epi8(1), x1 = _mm256_set1_epi8(2), x2 = _mm256_set1_epi8(3), x3 = _mm256_set1_epi8(4);
    __m256i s = zero;
    for (int64_t i = 0; i < iters; i += XNV_AVX2_FLUSH) {
        __m256i b0 = zero, b1 = zero, b2 = zero, b3 = zero;
        for (int k = 0; k < XNV_AVX2_FLUSH; k++) {
            XNV_NIB2(b0, lut, x0, x1, wl, wh); XNV_NIB2(b1, lut, x1, x2, wl, wh);
            XNV_NIB2(b2, lut, x2, x3, wl, wh); XNV_NIB2(b3, lut, x3, x0, wl, wh);
            __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3));
        }
        __m256i t = _mm256_add_epi64(_mm256_add_epi64(_mm256_sad_epu8(b0, zero), _mm256_sad_epu8(b1, zero)),
                                     _mm256_add_epi64(_mm256_sad_epu8(b2, zero), _mm256_sad_epu8(b3, zero)));
        s = _mm256_add_epi64(s, t);
    }
    int64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, s);
    return (uint64_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
}
#endif /* x86 */

/* ----------------------------------------------------------------------------------------- AArch64 */
#if defined(__aarch64__)
#include <arm_neon.h>

/* vcntq_u8 counts bits per byte; pairwise widening adds (u8 -> u16 -> u32 -> u64) keep each 64-bit lane,
 * i.e. each output channel, separate. u16 lanes gain at most 16 per word: flush every 4000 words. */
static void xnv_uk_neon(uint64_t **xp, const uint64_t *w, const int64_t *tapoff, int ntaps, int wc,
                        int32_t k, int32_t **out, int npx) {
    for (int p = 0; p < npx; p++) {
        uint16x8_t a[16];
        uint64x2_t s[16];
        for (int v = 0; v < 16; v++) { a[v] = vdupq_n_u16(0); s[v] = vdupq_n_u64(0); }
        const uint64_t *wp = w;
        int n = 0;
        for (int t = 0; t < ntaps; t++) {
            const uint64_t *x = xp[p] + tapoff[t];
            for (int j = 0; j < wc; j++, wp += XNV_BLK) {
                uint64x2_t bc = vdupq_n_u64(x[j]);
                for (int v = 0; v < 16; v++)
                    a[v] = vpadalq_u8(a[v], vcntq_u8(vreinterpretq_u8_u64(veorq_u64(bc, vld1q_u64(wp + 2 * v)))));
                if (++n == 4000) {
                    for (int v = 0; v < 16; v++) { s[v] = vpadalq_u32(s[v], vpaddlq_u16(a[v])); a[v] = vdupq_n_u16(0); }
                    n = 0;
                }
            }
        }
        for (int v = 0; v < 16; v++) {
            s[v] = vpadalq_u32(s[v], vpaddlq_u16(a[v]));
            out[p][2 * v] = k - 2 * (int32_t)vgetq_lane_u64(s[v], 0);
            out[p][2 * v + 1] = k - 2 * (int32_t)vgetq_lane_u64(s[v], 1);
        }
    }
}

static uint64_t xnv_peak_neon(int64_t iters) {
    const uint64x2_t w = vdupq_n_u64(0x5555555555555555ULL);
    uint64x2_t x0 = vdupq_n_u64(1), x1 = vdupq_n_u64(2), x2 = vdupq_n_u64(3), x3 = vdupq_n_u64(4),
               x4 = vdupq_n_u64(5), x5 = vdupq_n_u64(6), x6 = vdupq_n_u64(7), x7 = vdupq_n_u64(8);
    uint64x2_t s = vdupq_n_u64(0);
    for (int64_t i = 0; i < iters; i += 4000) {
        uint16x8_t a0 = vdupq_n_u16(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int k = 0; k < 4000; k++) {
            a0 = vpadalq_u8(a0, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x0, w))));
            a1 = vpadalq_u8(a1, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x1, w))));
            a2 = vpadalq_u8(a2, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x2, w))));
            a3 = vpadalq_u8(a3, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x3, w))));
            a4 = vpadalq_u8(a4, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x4, w))));
            a5 = vpadalq_u8(a5, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x5, w))));
            a6 = vpadalq_u8(a6, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x6, w))));
            a7 = vpadalq_u8(a7, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x7, w))));
            __asm__ volatile("" : "+w"(x0), "+w"(x1), "+w"(x2), "+w"(x3), "+w"(x4), "+w"(x5), "+w"(x6), "+w"(x7));
        }
        /* widen each counter before adding: one holds up to 64000 */
        uint32x4_t t = vaddq_u32(vaddq_u32(vpaddlq_u16(a0), vpaddlq_u16(a1)), vaddq_u32(vpaddlq_u16(a2), vpaddlq_u16(a3)));
        t = vaddq_u32(t, vaddq_u32(vaddq_u32(vpaddlq_u16(a4), vpaddlq_u16(a5)), vaddq_u32(vpaddlq_u16(a6), vpaddlq_u16(a7))));
        s = vpadalq_u32(s, t);
    }
    return vgetq_lane_u64(s, 0) + vgetq_lane_u64(s, 1);
}
#endif /* AArch64 */

/* ------------------------------------------------------------------------------------ weight layout */
/* Words a path stores per weight word and per input word: 2 on AVX2 (nibble-split, see xnv_uk_avx2), else 1. */
static int xnv_weight_split(int path) { return path == XNV_PATH_AVX2 ? 2 : 1; }

/* Output pixels per microkernel call. AVX2 takes 8: its block's weights (twice the words, nibble-split) outgrow
 * L1 from 384 input channels on, and each half block then serves four pixel pairs in a row instead of two
 * (7x7x512: 0.44-0.46 -> 0.40-0.43 ms). */
static int xnv_tile(int path) { return path == XNV_PATH_AVX2 ? 8 : XNV_TILE; }

/* Stores weight word ``v`` of channel c, input word i = t * wc + j, into a block laid out for a path of this
 * split: wbuf[i * 32 + c]; or nibble-split, tap by tap, each tap's words for channels 0-15 and then for 16-31
 * (a half block's words of a tap are contiguous, 256 bytes a word: its 16 low nibble words, then its 16 high
 * ones). Halves stored side by side word by word ran the 512-channel layers no faster than the unsplit
 * weights: a half pass pulled the other half's lines into L1 beside its own. A tap of the block (the tap
 * sums run the microkernel on one) is laid out as a one-tap block. */
static inline void xnv_store_weight(int split, int wc, uint64_t *wbuf, int64_t i, int c, uint64_t v) {
    if (split == 1) {
        wbuf[i * XNV_BLK + c] = v;
    } else {
        const int64_t t = i / wc, j = i % wc, h = c / 16;
        uint64_t *at = wbuf + ((t * 2 + h) * wc + j) * XNV_BLK + c % 16;
        at[0] = v & XNV_NIBBLES;
        at[16] = (v >> 4) & XNV_NIBBLES;
    }
}

/* -------------------------------------------------------------------------------------- dispatching */
static unsigned xnv_cpu_features(void) {
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt")) f |= XNV_CPU_POPCNT;
    if (__builtin_cpu_supports("avx2")) f |= XNV_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f")) f |= XNV_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512vpopcntdq")) f |= XNV_CPU_AVX512_VPOPCNTDQ;
#elif defined(__aarch64__)
    f |= XNV_CPU_NEON | XNV_CPU_POPCNT; /* Advanced SIMD (with CNT) is mandatory on AArch64 */
#endif
    return f;
}

static int xnv_path_supported(int path) {
    unsigned f = xnv_cpu_features();
    switch (path) {
    case XNV_PATH_PORTABLE: return 1;
    case XNV_PATH_AVX2: return (f & XNV_CPU_AVX2) != 0;
    case XNV_PATH_AVX512: return (f & XNV_CPU_AVX512F) && (f & XNV_CPU_AVX512_VPOPCNTDQ);
    case XNV_PATH_NEON: return (f & XNV_CPU_NEON) != 0;
    default: return 0;
    }
}

static int xnv_best_path(void) {
    if (xnv_path_supported(XNV_PATH_AVX512)) return XNV_PATH_AVX512;
    if (xnv_path_supported(XNV_PATH_NEON)) return XNV_PATH_NEON;
    if (xnv_path_supported(XNV_PATH_AVX2)) return XNV_PATH_AVX2;
    return XNV_PATH_PORTABLE;
}

/* Whether this CPU runs 512-bit vector ops as two 256-bit halves: AMD's family 19h with AVX-512 (Zen 4;
 * Zen 3, the same family, has none). There the AVX-512 popcount still counts twice the bits an instruction
 * of AVX2's table look-ups does, but a 16-lane FMA does no more than two 8-lane ones, and the 8-lane float
 * kernels ran the faces net's stem 1.3x, its BWN conv 1.2x and its heads 2x as fast as the 16-lane ones. */
static int xnv_halves_512(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d) || b != 0x68747541u || d != 0x69746e65u || c != 0x444d4163u)
        return 0; /* not "AuthenticAMD" */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned family = ((a >> 8) & 0xF) + ((a >> 8 & 0xF) == 0xF ? (a >> 20) & 0xFF : 0);
    return family == 0x19 && xnv_path_supported(XNV_PATH_AVX512);
#else
    return 0;
#endif
}

/* The path the float kernels (direct conv, BWN conv, dense) run for the popcount path ``path``: the same,
 * but AVX2 where 512-bit vectors run as halves. Every FMA path gives the same bits, so this choice only
 * changes the speed. */
static int xnv_float_path(int path) {
    return path == XNV_PATH_AVX512 && xnv_halves_512() ? XNV_PATH_AVX2 : path;
}

/* The microkernel of a path; the caller has checked xnv_path_supported(path). */
static xnv_ukernel_t xnv_ukernel(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == XNV_PATH_AVX512) return xnv_uk_avx512;
    if (path == XNV_PATH_AVX2) return xnv_uk_avx2;
#elif defined(__aarch64__)
    if (path == XNV_PATH_NEON) return xnv_uk_neon;
#endif
    return xnv_uk_portable;
}

static xnv_signs_t xnv_signs(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == XNV_PATH_AVX512) return xnv_signs_avx512;
    if (path == XNV_PATH_AVX2) return xnv_signs_avx2;
#endif
    (void)path;
    return xnv_signs_portable;
}

static xnv_affine_t xnv_affine(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == XNV_PATH_AVX512) return xnv_affine_avx512;
    if (path == XNV_PATH_AVX2) return xnv_affine_avx2;
#endif
    (void)path;
    return xnv_affine_portable;
}

static xnv_epilogue_t xnv_epilogue(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == XNV_PATH_AVX512) return xnv_epilogue_avx512;
    if (path == XNV_PATH_AVX2) return xnv_epilogue_avx2;
#endif
    (void)path;
    return xnv_epilogue_tile_row;
}

typedef int (*xnv_pack_f32_t)(const float *x, int64_t c, uint64_t *out);

static xnv_pack_f32_t xnv_pack_f32(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == XNV_PATH_AVX512) return xnv_pack_f32_avx512;
    if (path == XNV_PATH_AVX2) return xnv_pack_f32_avx2;
#endif
    (void)path;
    return xnv_pack_f32_portable;
}

/* Runs the peak loop of a path for about `iters` iterations; returns the binary MACs it did
 * (the checksum is folded in so the loop cannot be removed). */
static double xnv_peak(int path, int64_t iters, uint64_t *checksum) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == XNV_PATH_AVX512) { *checksum = xnv_peak_avx512(iters); return (double)iters * XNV_PEAK_ACC * 512; }
    if (path == XNV_PATH_AVX2) {
        int64_t n = (iters + XNV_AVX2_FLUSH - 1) / XNV_AVX2_FLUSH * XNV_AVX2_FLUSH;
        *checksum = xnv_peak_avx2(n);
        return (double)n * XNV_AVX2_PEAK_ACC * 256;
    }
#elif defined(__aarch64__)
    if (path == XNV_PATH_NEON) {
        int64_t n = (iters + 3999) / 4000 * 4000;
        *checksum = xnv_peak_neon(n);
        return (double)n * 8 * 128;
    }
#endif
    *checksum = xnv_peak_portable(iters);
    return (double)iters * XNV_PEAK_ACC * 64;
}

#endif /* XNV_SIMD_H */
