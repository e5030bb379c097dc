/* Direct float32 convolution for few taps x channels (a detector's first layer: 3x3 x 3 channels -> 16),
 * NHWC input, weights [kh][kw][C][O] (HWIO), output [N][Ho][Wo][O]; zero padding, any stride, optional
 * bias and ReLU. Chosen at run time like xnv_simd.h (the build never uses -march=native):
 *   - AVX-512F: 16 output channels in one zmm, tiles of 8 output pixels (8 independent FMA chains);
 *   - AVX2+FMA: 16 output channels in two ymm, tiles of 4 pixels;
 *   - portable C on 4-float vectors (GCC/Clang vector extensions): SSE2 on x86-64, NEON (with FMA) on
 *     AArch64, tiles of 2 (x86) or 4 (AArch64: 32 registers) pixels.
 * A tile broadcasts one input value per pixel and multiplies it into the weight vector of that tap and
 * channel: no im2col and no horizontal sums, whatever O is (the last block of 16 channels is masked).
 * For one row and one tap row dy, the taps (dx, c) of a pixel are kw*C consecutive floats in both the
 * input and the weights, so a tile walks j in [0, kw*C) and padding only clips that range: rows at the
 * top and bottom drop tap rows, the few pixels at the left and right edges get a clipped j range.
 *
 * uint8 input (x8 set, x NULL): an image [n][h][w_in][cx] read through a table, tap channel k of a pixel
 * being lut[k][its byte chan[k]]. Each thread keeps the input rows that its output rows need as float rows
 * in a scratch buffer, laid out like the float input (w_in * c floats a row), and runs the unchanged tiles
 * on them: the sums are those of the float path on the table's values, bit for bit. Each input row is
 * converted once per thread, several rows in one loop. The look-ups are scalar, 2 loads and a store a
 * value (~0.25 ns): AVX-512/AVX2 gathers (of the bytes, then from the table) were slower, and so was
 * converting a row a few columns ahead of the tile that reads them (to overlap look-ups and FMAs).
 */
#ifndef XNV_FCONV_H
#define XNV_FCONV_H

#include <stdint.h>
#include <string.h>

#include "xnv_simd.h"

#define XNV_FC_BLK 16 /* output channels per block */

typedef struct {
    const float *x;    /* input [n][h][w_in][c] */
    const float *w;    /* weights [kh][kw][c][o] */
    const float *bias; /* [o], or NULL */
    float *out;        /* [n][ho][wo][o] */
    int h, w_in, c, kh, kw, sh, sw, ph, pw, ho, wo, o, relu;
    /* uint8 input (x8 NULL: float input x) */
    const uint8_t *x8;   /* [n][h][w_in][cx] */
    int cx;              /* channels of x8 */
    int rows;            /* float rows per thread in the scratch buffer: xnv_fc_u8_nrows */
    const int32_t *chan; /* [c]: the channel of x8 read by tap channel k */
    const float *lut;    /* [c][256]: tap channel k of byte v -> lut[k * 256 + v] */
} xnv_fconv_t;

/* Float rows per thread in the scratch buffer (w_in * c floats each): kh, plus what fits in XNV_FC_U8_BYTES
 * (at least sh, so that one conversion serves two output rows or more; at most 64). 4 KB to 64 KB: the
 * same speed. */
#define XNV_FC_U8_BYTES 16384
static int xnv_fc_u8_nrows(int kh, int sh, int64_t row_floats) {
    int64_t more = XNV_FC_U8_BYTES / (row_floats * (int64_t)sizeof(float));
    if (more > 64) more = 64;
    if (more < sh) more = sh;
    return kh + (int)more;
}

/* One tile: npx output pixels (sw*c floats apart in x, o apart in out), ndy tap rows, nj taps per row;
 * x and w point at the first tap used. */
typedef void (*xnv_fc_tile_t)(const xnv_fconv_t *p, const float *x, const float *w, float *out, int ndy,
                              int nj);
/* Output rows [r0, r1); scratch: this thread's p->rows * w_in * c floats (uint8 input only, else NULL). */
typedef void (*xnv_fconv_rows_t)(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch);

#if defined(__GNUC__)
#define XNV_FC_INLINE static inline __attribute__((always_inline))
#else
#define XNV_FC_INLINE static inline
#endif

/* One output pixel whose taps leave the image sideways: the taps dx in [dx0, dx1) are the ones inside. */
XNV_FC_INLINE void xnv_fc_edge(const xnv_fconv_t *p, const float *xrow, const float *wrow, float *orow, int ndy,
                               int ox, xnv_fc_tile_t one) {
    const int ix = ox * p->sw - p->pw;
    const int dx0 = ix < 0 ? -ix : 0, dx1 = p->w_in - ix < p->kw ? p->w_in - ix : p->kw;
    if (dx1 <= dx0) { /* no tap inside (only with padding >= kernel): the bias alone */
        one(p, xrow, wrow, orow + (int64_t)ox * p->o, 0, 0);
        return;
    }
    one(p, xrow + (int64_t)(ix + dx0) * p->c, wrow + (int64_t)dx0 * p->c * p->o, orow + (int64_t)ox * p->o, ndy,
        (dx1 - dx0) * p->c);
}

/* ------------------------------------------------------------------------------------- uint8 input */
/* Pixels [px0, px1) of a uint8 row -> floats (c, cx constants when inlined from below). */
XNV_FC_INLINE void xnv_fc_u8_px_n(const xnv_fconv_t *p, const uint8_t *src, float *dst, int px0, int px1, int c,
                                  int cx) {
    const int32_t *ch = p->chan;
    const float *lut = p->lut;
    const uint8_t *s = src + (int64_t)px0 * cx;
    float *d = dst + (int64_t)px0 * c;
    int px = px0;
    for (; px + 4 <= px1; px += 4, s += 4 * cx, d += 4 * c) /* 4 pixels a loop: ~7% faster */
        for (int q = 0; q < 4; q++)
            for (int k = 0; k < c; k++) d[q * c + k] = lut[k * 256 + s[q * cx + ch[k]]];
    for (; px < px1; px++, s += cx, d += c)
        for (int k = 0; k < c; k++) d[k] = lut[k * 256 + s[ch[k]]];
}

/* Pixels [px0, px1) of uint8 rows (consecutive rows are consecutive pixels) -> w_in * c floats a row. */
static void xnv_fc_u8_px(const xnv_fconv_t *p, const uint8_t *src, float *dst, int px0, int px1) {
    if (p->c == 3 && p->cx == 3)
        xnv_fc_u8_px_n(p, src, dst, px0, px1, 3, 3);
    else if (p->c == 1 && p->cx == 1)
        xnv_fc_u8_px_n(p, src, dst, px0, px1, 1, 1);
    else if (p->c == 3 && p->cx == 4)
        xnv_fc_u8_px_n(p, src, dst, px0, px1, 3, 4);
    else
        xnv_fc_u8_px_n(p, src, dst, px0, px1, p->c, p->cx);
}

/* lut [256][c] (as given) -> [c][256] (as the conversion reads it). */
static void xnv_fc_u8_table(const float *lut, int c, float *dst) {
    for (int k = 0; k < c; k++)
        for (int v = 0; v < 256; v++) dst[k * 256 + v] = lut[v * c + k];
}

/* A thread's scratch rows: global input rows (image * h + y) [first, first + n) in its rows [0, n); the
 * thread reads no row from `end` on. */
typedef struct {
    float *buf;
    int64_t first, end;
    int n;
} xnv_fc_u8_t;

/* The ndy input rows from global row g0 on, as consecutive float rows of the scratch buffer (g0 never
 * decreases along a thread's rows). When some are missing, those held from g0 on move to the top and
 * the rows after them are converted, as many as the buffer holds: long conversion loops, called once
 * every few output rows. */
static const float *xnv_fc_u8_rows(const xnv_fconv_t *p, xnv_fc_u8_t *u, int64_t g0, int ndy) {
    const int64_t rl = (int64_t)p->w_in * p->c, xrl = (int64_t)p->w_in * p->cx, d = g0 - u->first;
    if (d >= 0 && d + ndy <= u->n) return u->buf + d * rl;
    const int keep = d >= 0 && d < u->n ? (int)(u->n - d) : 0;
    if (keep && d) memmove(u->buf, u->buf + d * rl, (size_t)(keep * rl) * sizeof(float));
    int64_t last = g0 + p->rows;
    if (last > u->end) last = u->end;
    xnv_fc_u8_px(p, p->x8 + (g0 + keep) * xrl, u->buf + keep * rl, 0, (int)((last - g0 - keep) * p->w_in));
    u->first = g0;
    u->n = (int)(last - g0);
    return u->buf;
}

/* Output rows [r0, r1) (row = image * ho + oy): tiles of `np` pixels across the interior columns (the last
 * tile overlaps the one before rather than running short), single pixels at the clipped edges. */
XNV_FC_INLINE void xnv_fc_rows(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch, xnv_fc_tile_t tile,
                               int np, xnv_fc_tile_t one) {
    const int64_t kwc = (int64_t)p->kw * p->c;
    const int u8 = p->x8 != 0;
    xnv_fc_u8_t u = {scratch, 0, 0, 0};
    if (u8 && r1 > r0) { /* the row after the last one read by output row r1 - 1 */
        const int iy = (int)((r1 - 1) % p->ho) * p->sh - p->ph;
        u.end = (r1 - 1) / p->ho * p->h + (p->h - iy < p->kh ? p->h : iy + p->kh);
    }
    /* interior columns [lo, hi): every horizontal tap inside the image */
    int lo = (p->pw + p->sw - 1) / p->sw;
    int hi = p->w_in + p->pw >= p->kw ? (p->w_in + p->pw - p->kw) / p->sw + 1 : 0;
    if (lo > p->wo) lo = p->wo;
    if (hi > p->wo) hi = p->wo;
    if (hi - lo < np) hi = lo; /* too few for a tile: all single pixels */
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / p->ho;
        const int iy = (int)(r % p->ho) * p->sh - p->ph;
        const int dy0 = iy < 0 ? -iy : 0, dy1 = p->h - iy < p->kh ? p->h - iy : p->kh;
        const int ndy = dy1 > dy0 ? dy1 - dy0 : 0; /* 0 only with padding >= kernel */
        const int64_t g0 = b * p->h + iy + dy0; /* the first input row read */
        const float *xrow = u8 ? (ndy ? xnv_fc_u8_rows(p, &u, g0, ndy) : scratch)
                               : (ndy ? p->x + g0 * p->w_in * p->c : p->x);
        const float *wrow = ndy ? p->w + dy0 * kwc * p->o : p->w;
        float *orow = p->out + r * p->wo * (int64_t)p->o;
        for (int ox = 0; ox < lo; ox++) xnv_fc_edge(p, xrow, wrow, orow, ndy, ox, one);
        for (int t = lo; t < hi; t += np) {
            const int s = t + np > hi ? hi - np : t;
            tile(p, xrow + ((int64_t)s * p->sw - p->pw) * p->c, wrow, orow + (int64_t)s * p->o, ndy, (int)kwc);
        }
        for (int ox = hi; ox < p->wo; ox++) xnv_fc_edge(p, xrow, wrow, orow, ndy, ox, one);
    }
}

/* ------------------------------------------------------------------------------------------ portable */
#if defined(__aarch64__)
#define XNV_FC_PORT_TILE 4 /* 32 vector registers: 4 pixels x 16 channels of accumulators */
#else
#define XNV_FC_PORT_TILE 2 /* SSE2 has 16: 2 x 16 channels leave room for the weights */
#endif

/* GCC/Clang vector extensions: 4 floats, SSE2 on x86-64 and NEON on AArch64. AArch64 always has FMA
 * (vfmaq), which the build's -ffp-contract=off would not emit for `acc += x * w`. */
#if defined(__aarch64__)
#include <arm_neon.h>
typedef float32x4_t xnv_v4f;
#define XNV_FC_MAC(acc, x, w) ((acc) = vfmaq_n_f32((acc), (w), (x)))
#else
typedef float xnv_v4f __attribute__((vector_size(16)));
#define XNV_FC_MAC(acc, x, w) ((acc) += (x) * (w))
#endif
typedef int32_t xnv_v4i __attribute__((vector_size(16)));

static inline xnv_v4f xnv_v4f_load(const float *p) {
    xnv_v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* np pixels x a full block of 16 channels. */
XNV_FC_INLINE void xnv_fc_block_portable(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                         int ndy, int nj, int np, const float *bias) {
    const int64_t ps = (int64_t)p->sw * p->c, rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
    const int o = p->o;
    xnv_v4f acc[XNV_FC_PORT_TILE][4];
    for (int v = 0; v < 4; v++) {
        const xnv_v4f init = bias ? xnv_v4f_load(bias + 4 * v) : (xnv_v4f){0, 0, 0, 0};
        for (int k = 0; k < np; k++) acc[k][v] = init;
    }
    for (int dy = 0; dy < ndy; dy++) {
        const float *xr = x + dy * rs, *wr = w + dy * ws;
        for (int j = 0; j < nj; j++) {
            const float *wp = wr + (int64_t)j * o;
            const xnv_v4f w0 = xnv_v4f_load(wp), w1 = xnv_v4f_load(wp + 4), w2 = xnv_v4f_load(wp + 8),
                          w3 = xnv_v4f_load(wp + 12);
            for (int k = 0; k < np; k++) {
                const float xv = xr[j + k * ps];
                XNV_FC_MAC(acc[k][0], xv, w0);
                XNV_FC_MAC(acc[k][1], xv, w1);
                XNV_FC_MAC(acc[k][2], xv, w2);
                XNV_FC_MAC(acc[k][3], xv, w3);
            }
        }
    }
    const xnv_v4f zero = {0, 0, 0, 0};
    for (int k = 0; k < np; k++)
        for (int v = 0; v < 4; v++) {
            xnv_v4f a = acc[k][v];
            if (p->relu) a = (xnv_v4f)((xnv_v4i)a & ~(xnv_v4i)(a < zero)); /* NaN < 0 is false: NaN stays */
            memcpy(out + (int64_t)k * o + 4 * v, &a, sizeof a);
        }
}

/* One pixel x the last nl < 16 channels: plain scalar code. */
static void xnv_fc_tail_portable(const xnv_fconv_t *p, const float *x, const float *w, float *out, int ndy,
                                 int nj, int nl, const float *bias) {
    const int64_t rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
    for (int l = 0; l < nl; l++) {
        float acc = bias ? bias[l] : 0.0f;
        for (int dy = 0; dy < ndy; dy++)
            for (int j = 0; j < nj; j++) acc += x[dy * rs + j] * w[dy * ws + (int64_t)j * p->o + l];
        out[l] = p->relu && acc < 0.0f ? 0.0f : acc;
    }
}

XNV_FC_INLINE void xnv_fc_tile_portable_n(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                          int ndy, int nj, int np) {
    for (int cb = 0; cb < p->o; cb += XNV_FC_BLK) {
        const float *bias = p->bias ? p->bias + cb : 0;
        if (p->o - cb >= XNV_FC_BLK)
            xnv_fc_block_portable(p, x, w + cb, out + cb, ndy, nj, np, bias);
        else
            for (int k = 0; k < np; k++)
                xnv_fc_tail_portable(p, x + k * (int64_t)p->sw * p->c, w + cb, out + (int64_t)k * p->o + cb, ndy,
                                     nj, p->o - cb, bias);
    }
}

static void xnv_fc_tile_portable(const xnv_fconv_t *p, const float *x, const float *w, float *out, int ndy,
                                 int nj) {
    xnv_fc_tile_portable_n(p, x, w, out, ndy, nj, XNV_FC_PORT_TILE);
}

static void xnv_fc_one_portable(const xnv_fconv_t *p, const float *x, const float *w, float *out, int ndy,
                                int nj) {
    xnv_fc_tile_portable_n(p, x, w, out, ndy, nj, 1);
}

static void xnv_fconv_rows_portable(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch) {
    xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_portable, XNV_FC_PORT_TILE, xnv_fc_one_portable);
}

/* ------------------------------------------------------------------------------------------------ x86 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define XNV_FC512 __attribute__((target("avx512f")))
#define XNV_FC512_TILE 8

/* np pixels x one block of 16 channels; lanes past o are masked on load (no read past w) and store. */
XNV_FC512 XNV_FC_INLINE void xnv_fc_block_avx512(const xnv_fconv_t *p, const float *x, const float *w,
                                                  float *out, int ndy, int nj, int np, __mmask16 m,
                                                  const float *bias) {
    const int64_t ps = (int64_t)p->sw * p->c, rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
    const int o = p->o;
    const __m512 init = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
    __m512 a[XNV_FC512_TILE];
    for (int k = 0; k < np; k++) a[k] = init;
    for (int dy = 0; dy < ndy; dy++) {
        const float *xr = x + dy * rs, *wr = w + dy * ws;
        for (int j = 0; j < nj; j++) {
            const __m512 wv = _mm512_maskz_loadu_ps(m, wr + (int64_t)j * o);
            for (int k = 0; k < np; k++) a[k] = _mm512_fmadd_ps(_mm512_set1_ps(xr[j + k * ps]), wv, a[k]);
        }
    }
    for (int k = 0; k < np; k++) {
        if (p->relu) a[k] = _mm512_max_ps(_mm512_setzero_ps(), a[k]); /* NaN stays, as in np.maximum */
        _mm512_mask_storeu_ps(out + (int64_t)k * o, m, a[k]);
    }
}

XNV_FC512 XNV_FC_INLINE void xnv_fc_tile_avx512_n(const xnv_fconv_t *p, const float *x, const float *w,
                                                   float *out, int ndy, int nj, int np) {
    for (int cb = 0; cb < p->o; cb += XNV_FC_BLK) {
        const int nl = p->o - cb < XNV_FC_BLK ? p->o - cb : XNV_FC_BLK;
        xnv_fc_block_avx512(p, x, w + cb, out + cb, ndy, nj, np, (__mmask16)((1u << nl) - 1),
                            p->bias ? p->bias + cb : 0);
    }
}

XNV_FC512 static void xnv_fc_tile_avx512(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                         int ndy, int nj) {
    xnv_fc_tile_avx512_n(p, x, w, out, ndy, nj, XNV_FC512_TILE);
}

XNV_FC512 static void xnv_fc_one_avx512(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                        int ndy, int nj) {
    xnv_fc_tile_avx512_n(p, x, w, out, ndy, nj, 1);
}

XNV_FC512 static void xnv_fconv_rows_avx512(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch) {
    xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx512, XNV_FC512_TILE, xnv_fc_one_avx512);
}

#define XNV_FC256 __attribute__((target("avx2,fma")))
#define XNV_FC256_TILE 4

/* np pixels x one block of 16 channels as two ymm halves; `full` (a constant after inlining) picks plain
 * loads and stores, else the lanes past o are masked (vmaskmov: no read or write past the arrays). */
XNV_FC256 XNV_FC_INLINE void xnv_fc_block_avx2(const xnv_fconv_t *p, const float *x, const float *w,
                                                float *out, int ndy, int nj, int np, int full, int nl,
                                                const float *bias) {
    const int64_t ps = (int64_t)p->sw * p->c, rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
    const int o = p->o;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nl), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nl - 8), lane);
    __m256 b0 = _mm256_setzero_ps(), b1 = b0;
    if (bias) {
        b0 = full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, m0);
        b1 = full ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, m1);
    }
    __m256 a0[XNV_FC256_TILE], a1[XNV_FC256_TILE];
    for (int k = 0; k < np; k++) { a0[k] = b0; a1[k] = b1; }
    for (int dy = 0; dy < ndy; dy++) {
        const float *xr = x + dy * rs, *wr = w + dy * ws;
        for (int j = 0; j < nj; j++) {
            const float *wp = wr + (int64_t)j * o;
            const __m256 w0 = full ? _mm256_loadu_ps(wp) : _mm256_maskload_ps(wp, m0);
            const __m256 w1 = full ? _mm256_loadu_ps(wp + 8) : _mm256_maskload_ps(wp + 8, m1);
            for (int k = 0; k < np; k++) {
                const __m256 xv = _mm256_broadcast_ss(xr + j + k * ps);
                a0[k] = _mm256_fmadd_ps(xv, w0, a0[k]);
                a1[k] = _mm256_fmadd_ps(xv, w1, a1[k]);
            }
        }
    }
    for (int k = 0; k < np; k++) {
        if (p->relu) {
            a0[k] = _mm256_max_ps(_mm256_setzero_ps(), a0[k]); /* NaN stays */
            a1[k] = _mm256_max_ps(_mm256_setzero_ps(), a1[k]);
        }
        float *op = out + (int64_t)k * o;
        if (full) {
            _mm256_storeu_ps(op, a0[k]);
            _mm256_storeu_ps(op + 8, a1[k]);
        } else {
            _mm256_maskstore_ps(op, m0, a0[k]);
            _mm256_maskstore_ps(op + 8, m1, a1[k]);
        }
    }
}

XNV_FC256 XNV_FC_INLINE void xnv_fc_tile_avx2_n(const xnv_fconv_t *p, const float *x, const float *w,
                                                 float *out, int ndy, int nj, int np) {
    for (int cb = 0; cb < p->o; cb += XNV_FC_BLK) {
        const float *bias = p->bias ? p->bias + cb : 0;
        if (p->o - cb >= XNV_FC_BLK)
            xnv_fc_block_avx2(p, x, w + cb, out + cb, ndy, nj, np, 1, XNV_FC_BLK, bias);
        else
            xnv_fc_block_avx2(p, x, w + cb, out + cb, ndy, nj, np, 0, p->o - cb, bias);
    }
}

XNV_FC256 static void xnv_fc_tile_avx2(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                       int ndy, int nj) {
    xnv_fc_tile_avx2_n(p, x, w, out, ndy, nj, XNV_FC256_TILE);
}

XNV_FC256 static void xnv_fc_one_avx2(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                      int ndy, int nj) {
    xnv_fc_tile_avx2_n(p, x, w, out, ndy, nj, 1);
}

XNV_FC256 static void xnv_fconv_rows_avx2(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch) {
    xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx2, XNV_FC256_TILE, xnv_fc_one_avx2);
}
#endif /* x86 */

/* -------------------------------------------------------------------------------------- dispatching */
/* The kernels pick one popcount path (xnv_simd.h); the float convolution follows it: AVX-512 VPOPCNTDQ
 * implies AVX-512F, the AVX2 path also needs FMA here (else portable), NEON uses the portable code, which
 * the compiler vectorises with NEON. Returns the path that runs. */
static int xnv_fconv_path(int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (path == XNV_PATH_AVX512 && xnv_path_supported(XNV_PATH_AVX512)) return XNV_PATH_AVX512;
    if (path == XNV_PATH_AVX2 && xnv_path_supported(XNV_PATH_AVX2)) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("fma")) return XNV_PATH_AVX2;
    }
#endif
    (void)path;
    return XNV_PATH_PORTABLE;
}

static xnv_fconv_rows_t xnv_fconv_rows(int path) {
#if defined(__x86_64__) || defined(__i386__)
    switch (xnv_fconv_path(path)) {
    case XNV_PATH_AVX512: return xnv_fconv_rows_avx512;
    case XNV_PATH_AVX2: return xnv_fconv_rows_avx2;
    default: break;
    }
#endif
    (void)path;
    return xnv_fconv_rows_portable;
}

#endif /* XNV_FCONV_H */
