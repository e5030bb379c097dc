/* Elementwise float rows with the baseline vector unit of each target (SSE2 on x86-64, NEON on AArch64).
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

#endif
