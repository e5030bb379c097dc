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
} xnv_fconv_t;

/* One tile: npx output pixels (sw*c floats apart in x, o apart in out), ndy tap rows, nj taps per row;
 * x and w point at the first tap used. */
typedef void (*xnv_fc_tile_t)(const xnv_fconv_t *p, const float *x, const float *w, float *out, int ndy,
                              int nj);
typedef void (*xnv_fconv_rows_t)(const xnv_fconv_t *p, int64_t r0, int64_t r1);

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

/* Output rows [r0, r1) (row = image * ho + oy): tiles of `np` pixels across the interior columns (the last
 * tile overlaps the one before rather than running short), single pixels at the clipped edges. */
XNV_FC_INLINE void xnv_fc_rows(const xnv_fconv_t *p, int64_t r0, int64_t r1, xnv_fc_tile_t tile, int np,
                               xnv_fc_tile_t one) {
    const int64_t kwc = (int64_t)p->kw * p->c;
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
        const float *xrow = ndy ? p->x + ((b * p->h + iy + dy0) * p->w_in) * p->c : p->x;
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

static void xnv_fconv_rows_portable(const xnv_fconv_t *p, int64_t r0, int64_t r1) {
    xnv_fc_rows(p, r0, r1, xnv_fc_tile_portable, XNV_FC_PORT_TILE, xnv_fc_one_portable);
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

XNV_FC512 static void xnv_fconv_rows_avx512(const xnv_fconv_t *p, int64_t r0, int64_t r1) {
    xnv_fc_rows(p, r0, r1, xnv_fc_tile_avx512, XNV_FC512_TILE, xnv_fc_one_avx512);
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

XNV_FC256 static void xnv_fconv_rows_avx2(const xnv_fconv_t *p, int64_t r0, int64_t r1) {
    xnv_fc_rows(p, r0, r1, xnv_fc_tile_avx2, XNV_FC256_TILE, xnv_fc_one_avx2);
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
