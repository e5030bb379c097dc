/* NHWC pooling rows with the baseline vector unit of each target (SSE2 on x86-64, NEON on AArch64).
 *
 * One call reduces one output row (one image, one output y) over windows clipped to the image: padded cells
 * never take part. Every window is a fold in row-major order that its first real cell starts:
 *   - float max: acc = s > acc ? s : acc. So a later NaN never wins, a NaN first cell always does (its
 *     payload kept), and of -0/+0 the earlier zero stays. MAXPS with the later cell first is exactly that (it
 *     returns its second operand when either is NaN or both are zeros); vmaxq_f32 is not (it returns NaN and
 *     orders -0 < +0), so NEON compares and selects. The compiler keeps the scalar ternary as a branch and
 *     will not vectorise it without -ffast-math: hence intrinsics.
 *   - float mean: acc = acc + s in that order, then acc / count with count = the real cells of the window
 *     (a divide: a multiply by 1/count rounds differently). A window with a NaN averages to NaN; which
 *     NaN payload is not specified.
 *   - packed bits: acc & s.
 * Channels go 4 floats (2 words) to a vector, up to 8 vectors folded side by side so that the dependent
 * max/add chains of a large window overlap. A channel count that is not a multiple of 4 (2) ends with one
 * vector that overlaps the previous one: it recomputes, and rewrites, the same values. Only c < 4 floats
 * (c == 1 word) is scalar. Full 2x2 windows get their own copy of the fold, unrolled (the 2x2 stride-2
 * pools of a detector); the kernels are then bound by memory, not by arithmetic.
 */
#ifndef XNV_POOL_H
#define XNV_POOL_H

#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#define XNV_POOL_VEC 1
typedef __m128 xnv_pf;
typedef __m128i xnv_pw;
#define xnv_pf_load(p) _mm_loadu_ps(p)
#define xnv_pf_store(p, v) _mm_storeu_ps(p, v)
#define xnv_pf_max(s, acc) _mm_max_ps(s, acc) /* s > acc ? s : acc; acc when either is NaN */
#define xnv_pf_add(acc, s) _mm_add_ps(acc, s)
#define xnv_pf_div(a, b) _mm_div_ps(a, b)
#define xnv_pf_set1(v) _mm_set1_ps(v)
#define xnv_pw_load(p) _mm_loadu_si128((const __m128i *)(p))
#define xnv_pw_store(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define xnv_pw_and(a, b) _mm_and_si128(a, b)
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define XNV_POOL_VEC 1
typedef float32x4_t xnv_pf;
typedef uint64x2_t xnv_pw;
#define xnv_pf_load(p) vld1q_f32(p)
#define xnv_pf_store(p, v) vst1q_f32(p, v)
#define xnv_pf_max(s, acc) vbslq_f32(vcgtq_f32(s, acc), s, acc)
#define xnv_pf_add(acc, s) vaddq_f32(acc, s)
#define xnv_pf_div(a, b) vdivq_f32(a, b)
#define xnv_pf_set1(v) vdupq_n_f32(v)
#define xnv_pw_load(p) vld1q_u64(p)
#define xnv_pw_store(p, v) vst1q_u64(p, v)
#define xnv_pw_and(a, b) vandq_u64(a, b)
#else
#define XNV_POOL_VEC 0
#endif
static inline float xnv_pool_addf(float acc, float s) { return acc + s; }

#define XNV_POOL_INLINE static inline __attribute__((always_inline))

enum { XNV_POOL_AND = 0, XNV_POOL_MAX = 1, XNV_POOL_AVG = 2 };

/* ---------------------------------------------------------------------------------------------- float */
#if XNV_POOL_VEC
/* nv vectors of o from the window of nh rows (rs floats apart) x nw cells (c floats apart) at q. */
XNV_POOL_INLINE void xnv_pool_f32_vec(int op, const float *q, int64_t rs, int64_t c, int nh, int nw, int nv,
                                      xnv_pf count, float *o) {
    xnv_pf a[8];
    for (int k = 0; k < nv; k++) a[k] = xnv_pf_load(q + 4 * k);
    for (int dy = 0; dy < nh; dy++) {
        for (int dx = dy == 0; dx < nw; dx++) {
            const float *s = q + dy * rs + dx * c;
            if (op == XNV_POOL_MAX)
                for (int k = 0; k < nv; k++) a[k] = xnv_pf_max(xnv_pf_load(s + 4 * k), a[k]);
            else
                for (int k = 0; k < nv; k++) a[k] = xnv_pf_add(a[k], xnv_pf_load(s + 4 * k));
        }
    }
    for (int k = 0; k < nv; k++) xnv_pf_store(o + 4 * k, op == XNV_POOL_MAX ? a[k] : xnv_pf_div(a[k], count));
}
#endif

/* o[j], j < c: op over the window of nh rows (rs floats apart) x nw cells (c floats apart) starting at p. */
XNV_POOL_INLINE void xnv_pool_f32_win(int op, const float *p, int64_t rs, int64_t c, int nh, int nw, float *o) {
    int64_t j = 0;
#if XNV_POOL_VEC
    if (c >= 4) {
        const xnv_pf count = xnv_pf_set1((float)(nh * nw));
        for (; j + 32 <= c; j += 32) xnv_pool_f32_vec(op, p + j, rs, c, nh, nw, 8, count, o + j);
        for (; j + 16 <= c; j += 16) xnv_pool_f32_vec(op, p + j, rs, c, nh, nw, 4, count, o + j);
        for (; j < c; j += 4) {
            const int64_t jj = j < c - 4 ? j : c - 4;
            xnv_pool_f32_vec(op, p + jj, rs, c, nh, nw, 1, count, o + jj);
        }
        return;
    }
#endif
    for (; j < c; j++) {
        const float *q = p + j;
        float a = q[0];
        for (int dy = 0; dy < nh; dy++) {
            for (int dx = dy == 0; dx < nw; dx++) {
                const float s = q[dy * rs + dx * c];
                a = op == XNV_POOL_MAX ? (s > a ? s : a) : xnv_pool_addf(a, s);
            }
        }
        o[j] = op == XNV_POOL_MAX ? a : a / (float)(nh * nw);
    }
}

/* ----------------------------------------------------------------------------------------- bits (AND) */
#if XNV_POOL_VEC
XNV_POOL_INLINE void xnv_pool_and_vec(const uint64_t *q, int64_t rs, int64_t c, int nh, int nw, int nv,
                                      uint64_t *o) {
    xnv_pw a[4];
    for (int k = 0; k < nv; k++) a[k] = xnv_pw_load(q + 2 * k);
    for (int dy = 0; dy < nh; dy++) {
        for (int dx = dy == 0; dx < nw; dx++) {
            const uint64_t *s = q + dy * rs + dx * c;
            for (int k = 0; k < nv; k++) a[k] = xnv_pw_and(a[k], xnv_pw_load(s + 2 * k));
        }
    }
    for (int k = 0; k < nv; k++) xnv_pw_store(o + 2 * k, a[k]);
}
#endif

XNV_POOL_INLINE void xnv_pool_and_win(const uint64_t *p, int64_t rs, int64_t c, int nh, int nw, uint64_t *o) {
    int64_t j = 0;
#if XNV_POOL_VEC
    if (c >= 2) {
        for (; j + 8 <= c; j += 8) xnv_pool_and_vec(p + j, rs, c, nh, nw, 4, o + j);
        for (; j < c; j += 2) {
            const int64_t jj = j < c - 2 ? j : c - 2;
            xnv_pool_and_vec(p + jj, rs, c, nh, nw, 1, o + jj);
        }
        return;
    }
#endif
    for (; j < c; j++) {
        const uint64_t *q = p + j;
        uint64_t a = q[0];
        for (int dy = 0; dy < nh; dy++)
            for (int dx = dy == 0; dx < nw; dx++) a &= q[dy * rs + dx * c];
        o[j] = a;
    }
}

/* ------------------------------------------------------------------------------------------------ rows */
/* The output columns [*oxa, *oxb) whose windows lie inside the image (columns x0 .. x0 + kw - 1). */
static inline void xnv_pool_inside(int w, int kw, int sw, int pw, int wo, int *oxa, int *oxb) {
    int a = (pw + sw - 1) / sw, b = w + pw - kw >= 0 ? (w + pw - kw) / sw + 1 : 0;
    a = a < wo ? a : wo;
    b = b < wo ? b : wo;
    *oxa = a;
    *oxb = b > a ? b : a;
}

/* One output row (oc elements from one output pixel to the next: c, or more when pools write side by side
 * into one tensor): the windows inside the image all have nh x kw cells (a full 2x2 gets the unrolled fold),
 * those clipped at either side go one at a time. Each op gets its own function (no inlining into one): small
 * enough loops that the compiler keeps their counters in registers. */
#define XNV_POOL_ROW(T, WIN)                                                                                \
    int oxa, oxb;                                                                                           \
    xnv_pool_inside(w, kw, sw, pw, wo, &oxa, &oxb);                                                         \
    if (oxa < oxb) {                                                                                        \
        const T *p = img + (int64_t)(oxa * sw - pw) * c;                                                    \
        const int64_t step = (int64_t)sw * c;                                                               \
        T *q = o + (int64_t)oxa * oc;                                                                       \
        if (nh == 2 && kw == 2)                                                                             \
            for (int ox = oxa; ox < oxb; ox++, p += step, q += oc) WIN(p, rs, c, 2, 2, q);                  \
        else                                                                                                \
            for (int ox = oxa; ox < oxb; ox++, p += step, q += oc) WIN(p, rs, c, nh, kw, q);                \
    }                                                                                                       \
    for (int ox = 0; ox < wo; ox++) {                                                                       \
        if (ox == oxa && (ox = oxb) >= wo) break;                                                           \
        const int x0 = ox * sw - pw, xa = x0 > 0 ? x0 : 0, xb = x0 + kw < w ? x0 + kw : w;                  \
        WIN(img + (int64_t)xa * c, rs, c, nh, xb - xa, o + (int64_t)ox * oc);                               \
    }

#define XNV_POOL_MAX_WIN(p, rs, c, nh, nw, o) xnv_pool_f32_win(XNV_POOL_MAX, p, rs, c, nh, nw, o)
#define XNV_POOL_AVG_WIN(p, rs, c, nh, nw, o) xnv_pool_f32_win(XNV_POOL_AVG, p, rs, c, nh, nw, o)

/* img: the first image row of the windows (rs elements a row, nh rows); o: the output row. */
__attribute__((noinline)) static void xnv_pool_and_row(const uint64_t *img, int64_t rs, int w, int64_t c,
                                                       int nh, int kw, int sw, int pw, int wo, uint64_t *o,
                                                       int64_t oc) {
    XNV_POOL_ROW(uint64_t, xnv_pool_and_win)
}

__attribute__((noinline)) static void xnv_pool_max_row(const float *img, int64_t rs, int w, int64_t c, int nh,
                                                       int kw, int sw, int pw, int wo, float *o, int64_t oc) {
    XNV_POOL_ROW(float, XNV_POOL_MAX_WIN)
}

__attribute__((noinline)) static void xnv_pool_avg_row(const float *img, int64_t rs, int w, int64_t c, int nh,
                                                       int kw, int sw, int pw, int wo, float *o, int64_t oc) {
    XNV_POOL_ROW(float, XNV_POOL_AVG_WIN)
}

/* Output row `row` (= image * ho + oy) of op over x [n, h, w, c] (c floats, or c words for AND) into out
 * [n, ho, wo, oc] (oc >= c: the pool's channels are the first c of each pixel's oc): kh x kw windows,
 * stride sh x sw, padding ph x pw, clipped to the image. */
static void xnv_pool_row(int op, const void *x, void *out, int h, int w, int64_t c, int kh, int kw, int sh,
                         int sw, int ph, int pw, int ho, int wo, int64_t row, int64_t oc) {
    const int64_t rs = (int64_t)w * c, b = row / ho;
    const int y0 = (int)(row % ho) * sh - ph, ya = y0 > 0 ? y0 : 0, yb = y0 + kh < h ? y0 + kh : h;
    const int64_t in0 = (b * h + ya) * rs, out0 = row * wo * oc;
    if (op == XNV_POOL_AND)
        xnv_pool_and_row((const uint64_t *)x + in0, rs, w, c, yb - ya, kw, sw, pw, wo, (uint64_t *)out + out0, oc);
    else if (op == XNV_POOL_MAX)
        xnv_pool_max_row((const float *)x + in0, rs, w, c, yb - ya, kw, sw, pw, wo, (float *)out + out0, oc);
    else
        xnv_pool_avg_row((const float *)x + in0, rs, w, c, yb - ya, kw, sw, pw, wo, (float *)out + out0, oc);
}

#endif
