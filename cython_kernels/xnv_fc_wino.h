/* A 7x7 stride-2 float conv of few input channels (ResNet's stem) with fewer multiply-adds: Winograd along
 * each row, tap rows summed directly (AVX2). Included by xnv_fconv.h inside its x86 part.
 *
 * A row's stride-2 7-tap correlation is two stride-1 ones: the even taps (4) read the even input columns,
 * the odd taps (3) the odd ones. Four outputs of each come from Winograd's F(4,4) (7 points) and F(4,3)
 * (6 points): y = A^T [(G g) . (B^T d)]. Both use the points 0, 1, -1, 2, -2 and infinity, whose columns
 * of A^T are the same, so a point's products of both phases are summed together (2c channels) and only
 * the point 1/2 of F(4,4) is its own (c channels): 13 multiplies a channel and tap row for 4 outputs,
 * where the direct tile does 28. With the output transform, ResNet-18's stem does 0.55x the FMAs.
 *
 * The matrices come from xnorvision/_winograd.py (the one place that knows them): the caller passes
 * p->wino = [B^T of both phases][transformed weights U], both in the point order q below. The output
 * transform here is A^T for that order; tests check the whole against a float64 reference.
 *
 * Point order q: 0, 1, -1, 2, -2, infinity (both phases), 1/2 (the even phase only).
 *   B^T: [2 phases][7 points][7 inputs] floats (the odd phase: 6 x 6, the rest zeros)
 *   U:   [7 points][kh tap rows][2c: even phase's channels, then odd's][o] (point 1/2: the first c)
 *
 * The results are not the direct tile's bits: a sum's rounding depends on its tile of 4 outputs and on
 * every input the tile reads (columns a pixel's own taps skip included). Tiles start at column 0 of every
 * row, so the same input gives the same bits whatever the threads, and the fused pool sees the values of
 * the unfused conv. Each input row is transformed once into a ring of XNV_WG_RING rows (a conv row reads
 * kh <= XNV_WG_RING of them, and the next one two more).
 */
#ifndef XNV_FC_WINO_H
#define XNV_FC_WINO_H

/* The transforms of one phase of the taps (half: 0 even, 1 odd; 7 - half inputs and points): for each point,
 * its row of B^T times the phase columns, 8 tiles at a time. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_phase_avx2(const float *bt, const float *ph, int64_t ps, float *t, int64_t st,
                                               int c, int half) {
    const int nn = 7 - half;
    for (int q = 0; q < nn; q++) {
        __m256 b[7];
        for (int n = 0; n < nn; n++) b[n] = _mm256_broadcast_ss(bt + (half * XNV_WG_PTS + q) * XNV_WG_PTS + n);
        for (int k = 0; k < c; k++) {
            const float *z = ph + ((int64_t)k * 8 + half) * ps;
            float *o = t + ((int64_t)q * 2 * c + half * c + k) * st;
            for (int64_t m = 0; m < st; m += 8) {
                __m256 acc = _mm256_mul_ps(b[0], _mm256_loadu_ps(z + m));
                for (int n = 1; n < nn; n++)
                    acc = _mm256_fmadd_ps(b[n], _mm256_loadu_ps(z + 2 * (n % 4) * ps + m + n / 4), acc);
                _mm256_storeu_ps(o + m, acc);
            }
        }
    }
}

/* One input row x (w_in * c floats) -> its transformed row t: per channel, the 8 column phases (column
 * 8m + s - pw in phase s, place m; zeros outside the image), then both phases of the taps. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_transform_n(const xnv_fconv_t *p, const float *x, float *ph, float *t, int c) {
    const int64_t st = xnv_wg_stride(p), ps = st + 8;
    memset(ph, 0, (size_t)xnv_wg_phase_floats(p) * sizeof(float));
    for (int col = 0; col < p->w_in; col++) {
        const int v = col + p->pw;
        float *d = ph + (int64_t)(v % 8) * ps + v / 8;
        for (int k = 0; k < c; k++) d[(int64_t)k * 8 * ps] = x[(int64_t)col * c + k];
    }
    xnv_wg_phase_avx2(p->wino, ph, ps, t, st, c, 0);
    xnv_wg_phase_avx2(p->wino, ph, ps, t, st, c, 1);
}

XNV_FC256 static void xnv_wg_transform_avx2(const xnv_fconv_t *p, const float *x, float *ph, float *t) {
    if (p->c == 3)
        xnv_wg_transform_n(p, x, ph, t, 3);
    else
        xnv_wg_transform_n(p, x, ph, t, p->c);
}

/* nt tiles x 16 channels of one point: the sum over the tap rows dy and kc channels of x * u. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_mm_avx2(const float *const *xr, int64_t xoff, int ndy, int kc, int64_t st,
                                            const float *u, int64_t us, int o, float *prod, int nt) {
    __m256 a0[XNV_WG_NT], a1[XNV_WG_NT];
    for (int i = 0; i < nt; i++) a0[i] = a1[i] = _mm256_setzero_ps();
    for (int dy = 0; dy < ndy; dy++) { /* a pointer a step: broadcasts at constant displacements */
        const float *x = xr[dy] + xoff, *w = u + dy * us;
#pragma GCC unroll 1 /* unrolled, gcc loaded the next step's weights early and spilled an accumulator */
        for (int k = 0; k < kc; k++, x += st, w += o) {
            const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
            for (int i = 0; i < nt; i++) {
                const __m256 xv = _mm256_broadcast_ss(x + i);
                a0[i] = _mm256_fmadd_ps(xv, w0, a0[i]);
                a1[i] = _mm256_fmadd_ps(xv, w1, a1[i]);
            }
        }
    }
    for (int i = 0; i < nt; i++) {
        _mm256_storeu_ps(prod + i * XNV_FC_BLK, a0[i]);
        _mm256_storeu_ps(prod + i * XNV_FC_BLK + 8, a1[i]);
    }
}

/* The products of nt tiles' 7 points -> their 4 outputs each (A^T), bias, activation, into ob (columns
 * past wo dropped). */
XNV_FC256 XNV_FC_INLINE void xnv_wg_out_avx2(const xnv_fconv_t *p, const float *prod, int t0, int nt, int cb,
                                             float *ob) {
    const int64_t ps = XNV_WG_NT * XNV_FC_BLK;
    for (int h = 0; h < 2; h++) {
        const int l = cb + 8 * h;
        const __m256 b = p->bias ? _mm256_loadu_ps(p->bias + l) : _mm256_setzero_ps();
        const __m256 s = p->slope ? _mm256_loadu_ps(p->slope + l) : _mm256_setzero_ps();
        for (int i = 0; i < nt; i++) {
            const float *m = prod + i * XNV_FC_BLK + 8 * h;
            const __m256 m0 = _mm256_loadu_ps(m), m1 = _mm256_loadu_ps(m + ps), m2 = _mm256_loadu_ps(m + 2 * ps),
                         m3 = _mm256_loadu_ps(m + 3 * ps), m4 = _mm256_loadu_ps(m + 4 * ps),
                         mi = _mm256_loadu_ps(m + 5 * ps), mh = _mm256_loadu_ps(m + 6 * ps);
            const __m256 sp = _mm256_add_ps(m1, m2), dp = _mm256_sub_ps(m1, m2), s2 = _mm256_add_ps(m3, m4),
                         d2 = _mm256_sub_ps(m3, m4);
            __m256 y[4];
            y[0] = _mm256_add_ps(_mm256_add_ps(m0, sp), _mm256_add_ps(s2, mh));
            y[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d2, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), mh, dp));
            y[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s2, _mm256_fmadd_ps(_mm256_set1_ps(0.25f), mh, sp));
            y[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d2,
                                                 _mm256_fmadd_ps(_mm256_set1_ps(0.125f), mh, dp)), mi);
            for (int j = 0; j < 4; j++) {
                const int col = 4 * (t0 + i) + j;
                if (col < p->wo)
                    _mm256_storeu_ps(ob + (int64_t)col * p->o + l,
                                     xnv_fc_act_avx2(p, _mm256_add_ps(y[j], b), p->slope != 0, s));
            }
        }
    }
}

/* A tile block of nt tiles, channels [cb, cb + 16): each point's products, then the outputs. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_block_avx2(const xnv_fconv_t *p, xnv_wg_t *g, const float *const *xr, int dy0,
                                               int ndy, int t0, int nt, int cb, float *ob, int c) {
    const int64_t st = xnv_wg_stride(p), us = (int64_t)2 * c * p->o;
    const float *u = p->wino + XNV_WG_BT_FLOATS + cb;
    for (int q = 0; q < XNV_WG_PTS; q++)
        xnv_wg_mm_avx2(xr, (int64_t)q * 2 * c * st + t0, ndy, q < XNV_WG_SHARED ? 2 * c : c, st,
                       u + ((int64_t)q * p->kh + dy0) * us, us, p->o, g->prod + q * XNV_WG_NT * XNV_FC_BLK, nt);
    xnv_wg_out_avx2(p, g->prod, t0, nt, cb, ob);
}

/* One conv row into ob: its ndy input rows from global row g0 (tap row dy0 on) at x, rl floats apart. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_row_n(const xnv_fconv_t *p, xnv_wg_t *g, const float *x, int64_t rl, int64_t g0,
                                          int dy0, int ndy, float *ob, int c) {
    const float *xr[XNV_WG_RING];
    const int64_t rf = xnv_wg_row_floats(p);
    for (int dy = 0; dy < ndy; dy++) {
        const int64_t r = g0 + dy;
        float *slot = g->ring + r % XNV_WG_RING * rf;
        if (g->held[r % XNV_WG_RING] != r) {
            xnv_wg_transform_avx2(p, x + dy * rl, g->phase, slot);
            g->held[r % XNV_WG_RING] = r;
        }
        xr[dy] = slot;
    }
    const int tiles = xnv_wg_tiles(p);
    for (int cb = 0; cb < p->o; cb += XNV_FC_BLK) /* a block's weights stay in L1 across the row */
        for (int t0 = 0; t0 < tiles; t0 += XNV_WG_NT) {
            switch (tiles - t0 < XNV_WG_NT ? tiles - t0 : XNV_WG_NT) {
            case 6: xnv_wg_block_avx2(p, g, xr, dy0, ndy, t0, 6, cb, ob, c); break;
            case 5: xnv_wg_block_avx2(p, g, xr, dy0, ndy, t0, 5, cb, ob, c); break;
            case 4: xnv_wg_block_avx2(p, g, xr, dy0, ndy, t0, 4, cb, ob, c); break;
            case 3: xnv_wg_block_avx2(p, g, xr, dy0, ndy, t0, 3, cb, ob, c); break;
            case 2: xnv_wg_block_avx2(p, g, xr, dy0, ndy, t0, 2, cb, ob, c); break;
            default: xnv_wg_block_avx2(p, g, xr, dy0, ndy, t0, 1, cb, ob, c); break;
            }
        }
}

XNV_FC256 static void xnv_wg_row_avx2(const xnv_fconv_t *p, xnv_wg_t *g, const float *x, int64_t rl, int64_t g0,
                                      int dy0, int ndy, float *ob) {
    if (p->c == 3)
        xnv_wg_row_n(p, g, x, rl, g0, dy0, ndy, ob, 3);
    else
        xnv_wg_row_n(p, g, x, rl, g0, dy0, ndy, ob, p->c);
}

#endif /* XNV_FC_WINO_H */
