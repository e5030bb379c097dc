/* Elementwise float rows with the baseline vector unit of each target (SSE2 on x86-64, NEON on AArch64).
 * xnv_epilogue_row is a binary conv's fused float epilogue (bconv.pyx): affine, residual add, PReLU and the
 * sign bits of the result, one pass over a block's accumulators.
 *
 * Written with intrinsics because the compiler keeps PReLU's select as a branch: without -ffast-math it
 * may not evaluate both sides of a float compare, and with random signs that branch mispredicts half the
 * time (a 4x slower loop than numpy's three passes).
 */
#ifndef XNV_ELTWISE_H
#define XNV_ELTWISE_H

#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

/* out[j] = v >= 0 ? v : a[j] * v with v = x[j] (+ r[j] when r is not NULL); out may alias x or r. */
static inline void xnv_prelu_row(const float *x, const float *r, const float *a, float *out, int64_t c) {
    int64_t j = 0;
#if defined(__SSE2__)
    const __m128 zero = _mm_setzero_ps();
    for (; j + 4 <= c; j += 4) {
        __m128 v = _mm_loadu_ps(x + j);
        if (r) v = _mm_add_ps(v, _mm_loadu_ps(r + j));
        __m128 neg = _mm_cmplt_ps(v, zero);
        __m128 m = _mm_mul_ps(v, _mm_loadu_ps(a + j));
        _mm_storeu_ps(out + j, _mm_or_ps(_mm_and_ps(neg, m), _mm_andnot_ps(neg, v)));
    }
#elif defined(__ARM_NEON)
    const float32x4_t zero = vdupq_n_f32(0.0f);
    for (; j + 4 <= c; j += 4) {
        float32x4_t v = vld1q_f32(x + j);
        if (r) v = vaddq_f32(v, vld1q_f32(r + j));
        vst1q_f32(out + j, vbslq_f32(vcltq_f32(v, zero), vmulq_f32(v, vld1q_f32(a + j)), v));
    }
#endif
    for (; j < c; j++) {
        float v = r ? x[j] + r[j] : x[j];
        out[j] = v >= 0 ? v : a[j] * v;
    }
}

/* One block of a binary conv's fused epilogue, n <= 32 channels: v = scale * acc + bias, then + r[j] (when r
 * is not NULL), then v < 0 ? a[j] * v : v (when a is not NULL); out[j] = v. Returns the sign bits (bit j set
 * iff v < 0, as pack_bits) and adds 1 to *nan when a result is NaN. Each step rounds to float32 as the
 * unfused layers do (no FMA contraction: the build passes -ffp-contract=off), so the result is bit-exact. */
static inline uint32_t xnv_epilogue_row(const int32_t *acc, const float *scale, const float *bias, const float *r,
                                        const float *a, float *out, int n, int *nan) {
    uint32_t bits = 0;
    int j = 0, nans = 0;
#if defined(__SSE2__)
    const __m128 zero = _mm_setzero_ps();
    for (; j + 4 <= n; j += 4) {
        __m128 v = _mm_mul_ps(_mm_loadu_ps(scale + j), _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(acc + j))));
        v = _mm_add_ps(v, _mm_loadu_ps(bias + j));
        if (r) v = _mm_add_ps(v, _mm_loadu_ps(r + j));
        if (a) {
            __m128 neg = _mm_cmplt_ps(v, zero);
            v = _mm_or_ps(_mm_and_ps(neg, _mm_mul_ps(v, _mm_loadu_ps(a + j))), _mm_andnot_ps(neg, v));
        }
        _mm_storeu_ps(out + j, v);
        bits |= (uint32_t)_mm_movemask_ps(_mm_cmplt_ps(v, zero)) << j;
        nans |= _mm_movemask_ps(_mm_cmpunord_ps(v, v)); /* no popcount: the baseline has no instruction */
    }
#endif
    for (; j < n; j++) {
        float v = scale[j] * (float)acc[j];
        v = v + bias[j];
        if (r) v = v + r[j];
        if (a && v < 0) v = a[j] * v;
        out[j] = v;
        bits |= (uint32_t)(v < 0) << j;
        nans |= v != v;
    }
    *nan += nans != 0;
    return bits;
}

#endif
