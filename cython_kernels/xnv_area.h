/* Area (box-filter) shrink of a uint8 H x W x C image to h x w x C (h <= H, w <= W), as OpenCV's INTER_AREA.
 *
 * Each output pixel is the mean of the source rectangle it covers, edge pixels weighted by the fraction
 * covered: OpenCV's weights (computeResizeAreaTab: double arithmetic, a partial pixel under 1e-3 dropped,
 * the last cell clipped to the image), here in fixed point. The filter is separable and runs vertical first:
 *   - vertical: the taps of an output row sum into one int16 row of W x C values in Q7 (1/128 grey level).
 *     With up to 4 taps (shrinks up to ~3x), each adds (byte * weight) >> 8 with the weight in Q15: one
 *     PMULHUW of the byte shifted into a 16-bit lane's high half, 7 vector operations per 16 bytes of a
 *     source row (float costs ~26). With more, int32 products (two rows per PMADDWD) are rounded once.
 *   - horizontal: each output value is the int32 sum over its taps of that row's values times Q14 weights,
 *     two taps per PMADDWD: the gather is the costly half, and vertical first runs it h times, not H times.
 *     A 3-channel pixel is one vector (its fourth lane spills into the next pixel, written afterwards).
 *   - the sums (Q21) are rounded (half up, plus half a Q7 step per floored product: the mean of what the
 *     floors lost) and saturated to bytes.
 * Every output has the same number of taps per axis (the most any output needs; the horizontal count made
 * even to pair taps), trailing taps weighted 0; rows carry zeroed slack for the reads past their end.
 * Tap counts known at compile time (a switch over the common ones) run twice as fast as a loop over k.
 * All arithmetic is integer, so the SSE2, NEON and scalar code give the same bytes. The result is within
 * 0.55 grey level of the exact mean (tests/kernels/test_area.py), so within one of OpenCV's (its float sums
 * and ours round differently where the mean sits near a half: about 0.4% of a WIDER image's values).
 */
#ifndef XNV_AREA_H
#define XNV_AREA_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

/* Output d's span of source pixels along one axis, as OpenCV's computeResizeAreaTab: [f1, f2) of width
 * cell (clipped to the image), whole pixels s1..s2-1, a partial pixel s1 - 1 and s2 each where it covers
 * over 1e-3. Returns the first pixel with a weight; *last gets the last. */
static inline int xnv_area_cell(int ssize, double scale, int d, double *f1, double *f2, double *cell, int *s1,
                                int *s2, int *last) {
    *f1 = d * scale, *f2 = *f1 + scale;
    *cell = scale < ssize - *f1 ? scale : ssize - *f1;
    *s1 = (int)*f1, *s2 = (int)*f2; /* floor of a value >= 0 (no libm call: the tables are timed too) */
    *s1 += *s1 < *f1;                /* ceil */
    if (*s2 > ssize - 1) *s2 = ssize - 1;
    if (*s1 > *s2) *s1 = *s2;
    *last = *f2 - *s2 > 1e-3 ? *s2 : *s2 - 1;
    return *s1 - *f1 > 1e-3 ? *s1 - 1 : *s1;
}

/* As cv::resize derives the scale from its inverse. */
static inline double xnv_area_scale(int ssize, int dsize) { return 1.0 / ((double)dsize / ssize); }

/* Taps per output along one axis: the most pixels any output's span weights. */
static inline int xnv_area_ntaps(int ssize, int dsize) {
    double f1, f2, cell, scale = xnv_area_scale(ssize, dsize);
    int s1, s2, last, k = 1;
    for (int d = 0; d < dsize; d++) {
        int first = xnv_area_cell(ssize, scale, d, &f1, &f2, &cell, &s1, &s2, &last);
        if (last - first + 1 > k) k = last - first + 1;
    }
    return k;
}

/* start[d] and weight[d * k + j] (of source pixel start[d] + j, in units of 1 / one) for every output d;
 * start + k <= ssize unless k > ssize. Each weight is the rounded running sum of the exact ones less the
 * rounded sum before it: each within one unit, and an output's weights sum to its exact sum rounded (at
 * most ``one``, so a sum of bytes never exceeds 255 * one), however many taps it has. */
static inline void xnv_area_table(int ssize, int dsize, int k, int one, int *start, int32_t *weight) {
    double f1, f2, cell, scale = xnv_area_scale(ssize, dsize);
    int s1, s2, last;
    memset(weight, 0, sizeof(int32_t) * (size_t)dsize * k);
    for (int d = 0; d < dsize; d++) {
        int first = xnv_area_cell(ssize, scale, d, &f1, &f2, &cell, &s1, &s2, &last);
        int base = first + k <= ssize ? first : (ssize > k ? ssize - k : 0);
        int32_t *wd = weight + (size_t)d * k - base, done = 0;
        double sum = 0.0;
        start[d] = base;
        for (int s = first; s <= last; s++) {
            double part = s < s1 ? s1 - f1 : s < s2 ? 1.0 : (f2 - s2 < 1.0 ? f2 - s2 : 1.0);
            sum += (part < cell ? part : cell) / cell;
            int32_t upto = (int32_t)(sum * one + 0.5);
            wd[s] = upto - done, done = upto;
        }
    }
}

/* Up to this many taps per output row, the vertical sum floors each tap's product (one PMULHUW: fast, and
 * off by under XNV_AREA_FEW / 128 grey level); beyond, it sums exact int32 products and rounds once (a 1080-row
 * frame shrunk to 3 rows has 361 taps, whose floors would lose 2.8 grey levels). */
#define XNV_AREA_FEW 4

#if defined(__SSE2__)
/* Few rows: acc = sum of (r * w) >> 8 (Q15 weights) over whole 16-byte blocks; returns the values written. */
static inline __attribute__((always_inline)) int xnv_area_few_sse2(const uint8_t **rows, const uint16_t *w, int m,
                                                                   int n, int16_t *acc) {
    const __m128i zero = _mm_setzero_si128();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i lo = zero, hi = zero;
        for (int j = 0; j < m; j++) {
            __m128i r = _mm_loadu_si128((const __m128i *)(rows[j] + i)), wj = _mm_set1_epi16((short)w[j]);
            lo = _mm_add_epi16(lo, _mm_mulhi_epu16(_mm_unpacklo_epi8(zero, r), wj));
            hi = _mm_add_epi16(hi, _mm_mulhi_epu16(_mm_unpackhi_epi8(zero, r), wj));
        }
        _mm_storeu_si128((__m128i *)(acc + i), lo);
        _mm_storeu_si128((__m128i *)(acc + i + 8), hi);
    }
    return i;
}

/* Many rows (m even, Q14 weights): acc = (sum of r * w + 64) >> 7, two rows per PMADDWD. */
static inline int xnv_area_many_sse2(const uint8_t **rows, const uint16_t *w, int m, int n, int16_t *acc) {
    const __m128i zero = _mm_setzero_si128(), half = _mm_set1_epi32(64);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i s[4] = {zero, zero, zero, zero};
        for (int j = 0; j < m; j += 2) {
            __m128i a = _mm_loadu_si128((const __m128i *)(rows[j] + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(rows[j + 1] + i));
            __m128i wp = _mm_set1_epi32((int)((uint32_t)w[j] | (uint32_t)w[j + 1] << 16));
            __m128i al = _mm_unpacklo_epi8(a, zero), ah = _mm_unpackhi_epi8(a, zero);
            __m128i bl = _mm_unpacklo_epi8(b, zero), bh = _mm_unpackhi_epi8(b, zero);
            s[0] = _mm_add_epi32(s[0], _mm_madd_epi16(_mm_unpacklo_epi16(al, bl), wp));
            s[1] = _mm_add_epi32(s[1], _mm_madd_epi16(_mm_unpackhi_epi16(al, bl), wp));
            s[2] = _mm_add_epi32(s[2], _mm_madd_epi16(_mm_unpacklo_epi16(ah, bh), wp));
            s[3] = _mm_add_epi32(s[3], _mm_madd_epi16(_mm_unpackhi_epi16(ah, bh), wp));
        }
        for (int q = 0; q < 4; q++) s[q] = _mm_srai_epi32(_mm_add_epi32(s[q], half), 7);
        _mm_storeu_si128((__m128i *)(acc + i), _mm_packs_epi32(s[0], s[1]));
        _mm_storeu_si128((__m128i *)(acc + i + 8), _mm_packs_epi32(s[2], s[3]));
    }
    return i;
}
#endif

/* acc[i] (Q7) = the weighted sum over the k rows at src of row[i], i < n: with k <= XNV_AREA_FEW, Q15 weights
 * and each product floored; else Q14 weights, rounded once. Rows of weight 0 are skipped (for many rows, one
 * may be added back to pair them). rows and w are scratch for k + 1 entries. Returns how many products were
 * floored: half a Q7 step each is the mean of what the floors lost. */
static inline int xnv_area_vertical(const uint8_t *src, int64_t stride, int n, int k, const int32_t *weight,
                                    const uint8_t **rows, uint16_t *w, int16_t *acc) {
    int m = 0, few = k <= XNV_AREA_FEW;
    for (int j = 0; j < k; j++)
        if (weight[j]) rows[m] = src + j * stride, w[m++] = (uint16_t)weight[j];
    if (!few && m % 2) rows[m] = rows[0], w[m++] = 0;
    int i = 0;
#if defined(__SSE2__)
    switch (few ? m : 0) { /* as for the horizontal taps: a constant row count unrolls */
    case 0: i = xnv_area_many_sse2(rows, w, m, n, acc); break;
    case 1: i = xnv_area_few_sse2(rows, w, 1, n, acc); break;
    case 2: i = xnv_area_few_sse2(rows, w, 2, n, acc); break;
    case 3: i = xnv_area_few_sse2(rows, w, 3, n, acc); break;
    default: i = xnv_area_few_sse2(rows, w, 4, n, acc);
    }
#elif defined(__ARM_NEON) && defined(__aarch64__)
    for (; i + 16 <= n; i += 16) {
        uint32x4_t s[4] = {vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0)};
        uint16x8_t lo = vdupq_n_u16(0), hi = vdupq_n_u16(0);
        for (int j = 0; j < m; j++) {
            uint8x16_t r = vld1q_u8(rows[j] + i);
            uint16x8_t wj = vdupq_n_u16(w[j]), rl = vmovl_u8(vget_low_u8(r)), rh = vmovl_high_u8(r);
            uint32x4_t p[4] = {vmull_u16(vget_low_u16(rl), vget_low_u16(wj)), vmull_high_u16(rl, wj),
                               vmull_u16(vget_low_u16(rh), vget_low_u16(wj)), vmull_high_u16(rh, wj)};
            if (few) { /* (r * w) >> 8: the 32-bit product's bits 8..23 */
                lo = vaddq_u16(lo, vcombine_u16(vshrn_n_u32(p[0], 8), vshrn_n_u32(p[1], 8)));
                hi = vaddq_u16(hi, vcombine_u16(vshrn_n_u32(p[2], 8), vshrn_n_u32(p[3], 8)));
            } else {
                for (int q = 0; q < 4; q++) s[q] = vaddq_u32(s[q], p[q]);
            }
        }
        if (!few) { /* (s + 64) >> 7 */
            lo = vcombine_u16(vrshrn_n_u32(s[0], 7), vrshrn_n_u32(s[1], 7));
            hi = vcombine_u16(vrshrn_n_u32(s[2], 7), vrshrn_n_u32(s[3], 7));
        }
        vst1q_s16(acc + i, vreinterpretq_s16_u16(lo));
        vst1q_s16(acc + i + 8, vreinterpretq_s16_u16(hi));
    }
#endif
    for (; i < n; i++) {
        uint32_t s = few ? 0 : 64;
        for (int j = 0; j < m; j++) s += few ? ((uint32_t)rows[j][i] * w[j]) >> 8 : (uint32_t)rows[j][i] * w[j];
        acc[i] = (int16_t)(few ? s : s >> 7);
    }
    return few ? m : 0;
}

#if defined(__SSE2__)
/* Taps j and j + 1 of a 3-channel pixel row p (channels interleaved tap by tap) times their pair of weights. */
static inline __m128i xnv_area_pair3(const int16_t *p, int j, const int32_t *wp) {
    __m128i ab = _mm_unpacklo_epi16(_mm_loadl_epi64((const __m128i *)(p + 3 * j)),
                                    _mm_loadl_epi64((const __m128i *)(p + 3 * j + 3)));
    return _mm_madd_epi16(ab, _mm_loadu_si128((const __m128i *)(wp + 2 * j)));
}

static inline __attribute__((always_inline)) void xnv_area_rows3(const int16_t *row, int w, int k, const int *start,
                                                                 const int32_t *pairs, int32_t *out) {
    for (int x = 0; x < w; x++) {
        const int16_t *p = row + (int64_t)start[x] * 3;
        const int32_t *wp = pairs + (int64_t)x * k * 2;
        __m128i acc = xnv_area_pair3(p, 0, wp);
        for (int j = 2; j < k; j += 2) acc = _mm_add_epi32(acc, xnv_area_pair3(p, j, wp));
        _mm_storeu_si128((__m128i *)(out + 3 * x), acc);
    }
}
#endif

/* out[x * c + ch] = sum over j < k of row[(start[x] + j) * c + ch] * weight[x * k + j] (k even), x < w. */
static inline void xnv_area_horizontal(const int16_t *row, int w, int c, int k, const int *start,
                                       const int32_t *weight, const int32_t *pairs, int32_t *out) {
#if defined(__SSE2__)
    if (c == 3) {
        switch (k) { /* constant tap counts let the compiler unroll the pairs: twice as fast */
        case 2: xnv_area_rows3(row, w, 2, start, pairs, out); break;
        case 4: xnv_area_rows3(row, w, 4, start, pairs, out); break;
        case 6: xnv_area_rows3(row, w, 6, start, pairs, out); break;
        case 8: xnv_area_rows3(row, w, 8, start, pairs, out); break;
        default: xnv_area_rows3(row, w, k, start, pairs, out);
        }
        return;
    }
#elif defined(__ARM_NEON) && defined(__aarch64__)
    if (c == 3) {
        for (int x = 0; x < w; x++) {
            const int16_t *p = row + (int64_t)start[x] * 3;
            const int32_t *wx = weight + (int64_t)x * k;
            int32x4_t acc = vdupq_n_s32(0);
            for (int j = 0; j < k; j++) acc = vmlal_n_s16(acc, vld1_s16(p + 3 * j), (int16_t)wx[j]);
            vst1q_s32(out + 3 * x, acc);
        }
        return;
    }
#endif
    (void)pairs;
    for (int x = 0; x < w; x++) {
        const int16_t *p = row + (int64_t)start[x] * c;
        const int32_t *wx = weight + (int64_t)x * k;
        for (int ch = 0; ch < c; ch++) {
            int32_t acc = 0;
            for (int j = 0; j < k; j++) acc += p[j * c + ch] * wx[j];
            out[x * c + ch] = acc;
        }
    }
}

/* dst[i] = (src[i] + bias) >> 21 saturated to 0..255, i < n. */
static inline void xnv_area_round(const int32_t *src, int32_t bias, uint8_t *dst, int n) {
    int i = 0;
#if defined(__SSE2__)
    const __m128i b = _mm_set1_epi32(bias);
    for (; i + 16 <= n; i += 16) {
        __m128i v[4];
        for (int j = 0; j < 4; j++)
            v[j] = _mm_srai_epi32(_mm_add_epi32(_mm_loadu_si128((const __m128i *)(src + i + 4 * j)), b), 21);
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_packus_epi16(_mm_packs_epi32(v[0], v[1]), _mm_packs_epi32(v[2], v[3])));
    }
#elif defined(__ARM_NEON) && defined(__aarch64__)
    const int32x4_t b = vdupq_n_s32(bias);
    for (; i + 8 <= n; i += 8) {
        int32x4_t lo = vshrq_n_s32(vaddq_s32(vld1q_s32(src + i), b), 21);
        int32x4_t hi = vshrq_n_s32(vaddq_s32(vld1q_s32(src + i + 4), b), 21);
        vst1_u8(dst + i, vqmovun_s16(vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi))));
    }
#endif
    for (; i < n; i++) {
        int32_t v = (src[i] + bias) >> 21;
        dst[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* The whole shrink: src h_in x w_in x c (row stride sstride bytes) into dst h x w x c (row stride dstride).
 * Returns 0, or -1 when a scratch buffer cannot be allocated (nothing written then). */
static inline int xnv_area_shrink(const uint8_t *src, int h_in, int w_in, int64_t sstride, uint8_t *dst, int h,
                                  int w, int64_t dstride, int c) {
    int ky = xnv_area_ntaps(h_in, h), kx = xnv_area_ntaps(w_in, w);
    kx += kx & 1; /* taps go in pairs; a tap past the row reads its zeroed slack with weight 0 */
    size_t nx = (size_t)w * kx, ny = (size_t)h * ky, vn = (size_t)w_in * c + c + 8, hn = (size_t)w * c + 4;
    int *xs = malloc(sizeof(int) * (size_t)(w + h));
    int32_t *tab = malloc(sizeof(int32_t) * (nx * 3 + ny + hn));
    int16_t *vrow = malloc(sizeof(int16_t) * (vn + ky + 1));
    const uint8_t **rows = malloc(sizeof(const uint8_t *) * (ky + 1));
    if (!xs || !tab || !vrow || !rows) {
        free(xs), free(tab), free(vrow), free(rows);
        return -1;
    }
    int *ys = xs + w;
    int32_t *xw = tab, *pairs = tab + nx, *yw = pairs + nx * 2, *hrow = yw + ny;
    xnv_area_table(w_in, w, kx, 1 << 14, xs, xw);
    xnv_area_table(h_in, h, ky, ky <= XNV_AREA_FEW ? 1 << 15 : 1 << 14, ys, yw);
    for (size_t i = 0; i < nx; i += 2) /* two taps' weights as the 16-bit halves of each 32-bit lane */
        for (int lane = 0; lane < 4; lane++) pairs[i * 2 + lane] = (int32_t)((uint16_t)xw[i] | (uint32_t)xw[i + 1] << 16);
    memset(vrow + (size_t)w_in * c, 0, sizeof(int16_t) * (c + 8));
    for (int y = 0; y < h; y++) {
        int m = xnv_area_vertical(src + ys[y] * sstride, sstride, w_in * c, ky, yw + (size_t)y * ky, rows,
                                  (uint16_t *)(vrow + vn), vrow);
        xnv_area_horizontal(vrow, w, c, kx, xs, xw, pairs, hrow);
        /* half of the Q21 step, and half a Q7 step (in Q21: 1 << 13) for each floored vertical product */
        xnv_area_round(hrow, (1 << 20) + m * (1 << 13), dst + y * dstride, w * c);
    }
    free(xs), free(tab), free(vrow), free(rows);
    return 0;
}

#endif
