/* Eight floats as one GCC/Clang vector (one ymm where the calling function is compiled for AVX2, a pair of
 * SSE2 or NEON registers elsewhere) and their 8 x 8 transpose, which the BWN tables (a row's fill, the
 * epilogue) and the direct conv's few-output tiles share. */
#ifndef XNV_VEC8_H
#define XNV_VEC8_H

#include <stdint.h>

typedef float xnv_v8 __attribute__((vector_size(32)));
typedef int32_t xnv_v8i __attribute__((vector_size(32)));

#if defined(__clang__)
#define XNV_V8_SHUF(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
#define XNV_V8_SHUF(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
    __builtin_shuffle(a, b, (xnv_v8i){i0, i1, i2, i3, i4, i5, i6, i7})
#endif

/* r[i] lane j -> r[j] lane i. */
static inline __attribute__((always_inline)) void xnv_v8_transpose(xnv_v8 r[8]) {
    xnv_v8 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = XNV_V8_SHUF(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = XNV_V8_SHUF(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int k = 0; k < 2; k++) {
            u[i + 2 * k] = XNV_V8_SHUF(t[i + k], t[i + k + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * k + 1] = XNV_V8_SHUF(t[i + k], t[i + k + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int k = 0; k < 4; k++) {
        r[k] = XNV_V8_SHUF(u[k], u[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[k + 4] = XNV_V8_SHUF(u[k], u[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

#endif
