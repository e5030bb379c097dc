/* A 7x7 stride-2 float conv of few input channels (ResNet's stem) with fewer multiply-adds: Winograd's
 * minimal filtering along the rows and down the columns (AVX2). Included by xnv_fconv.h inside its x86 part;
 * sizes and the thread's state (xnv_wg_t) are there.
 *
 * Along a row, a stride-2 7-tap correlation is two stride-1 ones: the even taps (4) read the even input
 * columns, the odd taps (3) the odd ones. Four outputs of each come from F(4,4) (7 points) and F(4,3)
 * (6 points): y = A^T [(G g) . (B^T d)]. Both use the points 0, 1, -1, 2, -2 and infinity, whose columns of
 * A^T are the same, so a point's products of both phases are summed together and only the point 1/2 of
 * F(4,4) is its own. Down the columns the same holds for the 7 tap rows: F(2,4) on the even input rows,
 * F(2,3) on the odd ones, the points 0, 1, -1 and infinity shared, -2 the even phase's own. A tile is 2 conv
 * rows x 4 columns: 117 multiplies a channel where the direct tile does 392, then the transforms'
 * additions (the input's amortised over the outputs, the output's over the channels).
 *
 * The matrices come from xnorvision/_winograd.py (conv_tables, the one place that knows them): p->wino =
 * [B^T of both column phases][B^T of both row phases][U: the weights' transforms]. This file applies A^T
 * for that point order (ROW_POINTS, COLUMN_POINTS there); tests check the whole against a float64 reference.
 *
 * A sum's rounding depends on its tile and on every input the tile reads (columns and rows a pixel's own
 * taps skip included), so the results are not the direct tile's bits. Tiles start at column 0 and at even
 * conv rows of every image, so the same input gives the same bits whatever the threads, and a fused pool
 * sees the unfused conv's values. Each input row is transformed along the row once into a ring of
 * XNV_WG_RING rows (a pair of conv rows reads 9 input rows, the next pair 4 more), each pair then
 * transforms its 9 rows down the columns.
 */
#ifndef XNV_FC_WINO_H
#define XNV_FC_WINO_H

/* Phases a point has: both for the shared ones, the even phase alone for the last point. */
static inline int xnv_wg_nh(int q) { return q < XNV_WG_SHARED ? 2 : 1; }
static inline int xnv_wg_nv(int v) { return v < XNV_WG_VSHARED ? 2 : 1; }

/* ----------------------------------------------------------------------------------- along the rows */
/* The transforms of one phase of the taps along a row (half: 0 even, 1 odd; 7 - half inputs and points):
 * for each point, its row of B^T times the phase columns, 8 tiles at a time. */
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

/* One input row x (w_in * c floats) -> its transformed row t ([point][phase][c][stride]): per channel, the
 * 8 column phases (column 8m + s - pw in phase s, place m; zeros outside the image), then both phases of
 * the taps. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_row_n(const xnv_fconv_t *p, const float *x, float *ph, float *t, int c) {
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

/* The transformed input row of global row r (x: its floats), from the ring or into it. */
XNV_FC256 static const float *xnv_wg_row_avx2(const xnv_fconv_t *p, xnv_wg_t *g, const float *x, int64_t r) {
    float *slot = g->ring + r % XNV_WG_RING * xnv_wg_row_floats(p);
    if (g->held[r % XNV_WG_RING] != r) {
        if (p->c == 3)
            xnv_wg_row_n(p, x, g->phase, slot, 3);
        else
            xnv_wg_row_n(p, x, g->phase, slot, p->c);
        g->held[r % XNV_WG_RING] = r;
    }
    return slot;
}

/* --------------------------------------------------------------------------------- down the columns */
/* A pair's transforms down the columns: for each row point v and its phases vp, the row of B^T times the
 * phase's input rows (rows[vp][n]: the even phase's 5, the odd phase's 4), for every column point q and
 * its phases, laid out as U's blocks: [v][q][vp][column phase][c][stride]. */
XNV_FC256 static void xnv_wg_down_avx2(const xnv_fconv_t *p, const float *const rows[2][5], float *pair) {
    const int c = p->c;
    const int64_t st = xnv_wg_stride(p);
    const float *btv = p->wino + 2 * XNV_WG_PTS * XNV_WG_PTS;
    float *d = pair;
    for (int v = 0; v < XNV_WG_VPTS; v++)
        for (int q = 0; q < XNV_WG_PTS; q++) {
            const int64_t len = (int64_t)xnv_wg_nh(q) * c * st, at = (int64_t)q * 2 * c * st;
            for (int vp = 0; vp < xnv_wg_nv(v); vp++, d += len) {
                const int nn = 5 - vp;
                const float *bt = btv + (vp * XNV_WG_VPTS + v) * XNV_WG_VPTS;
                __m256 b[5];
                for (int n = 0; n < nn; n++) b[n] = _mm256_broadcast_ss(bt + n);
                for (int64_t m = 0; m < len; m += 8) {
                    __m256 acc = _mm256_mul_ps(b[0], _mm256_loadu_ps(rows[vp][0] + at + m));
                    for (int n = 1; n < nn; n++)
                        acc = _mm256_fmadd_ps(b[n], _mm256_loadu_ps(rows[vp][n] + at + m), acc);
                    _mm256_storeu_ps(d + m, acc);
                }
            }
        }
}

/* ---------------------------------------------------------------------------------------- products */
/* nt tiles x 16 channels of one pair of points: the sum over its kc phase channels of x * u. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_mm_avx2(const float *x, int kc, int64_t st, const float *w, int o, float *prod,
                                            int nt) {
    __m256 a0[XNV_WG_NT], a1[XNV_WG_NT];
    for (int i = 0; i < nt; i++) a0[i] = a1[i] = _mm256_setzero_ps();
#pragma GCC unroll 1 /* unrolled, gcc loaded the next step's weights early and spilled an accumulator */
    for (int k = 0; k < kc; k++, x += st, w += o) { /* a pointer a step: broadcasts at constant displacements */
        const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
        for (int i = 0; i < nt; i++) {
            const __m256 xv = _mm256_broadcast_ss(x + i);
            a0[i] = _mm256_fmadd_ps(xv, w0, a0[i]);
            a1[i] = _mm256_fmadd_ps(xv, w1, a1[i]);
        }
    }
    for (int i = 0; i < nt; i++) {
        _mm256_storeu_ps(prod + i * XNV_FC_BLK, a0[i]);
        _mm256_storeu_ps(prod + i * XNV_FC_BLK + 8, a1[i]);
    }
}

/* A^T along a row (points 0, 1, -1, 2, -2, infinity, 1/2) of the 7 products m[q * ps] -> 4 outputs. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_cols_avx2(const __m256 m[7], __m256 y[4]) {
    const __m256 sp = _mm256_add_ps(m[1], m[2]), dp = _mm256_sub_ps(m[1], m[2]), s2 = _mm256_add_ps(m[3], m[4]),
                 d2 = _mm256_sub_ps(m[3], m[4]);
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], sp), _mm256_add_ps(s2, m[6]));
    y[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d2, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), m[6], dp));
    y[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s2, _mm256_fmadd_ps(_mm256_set1_ps(0.25f), m[6], sp));
    y[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d2, _mm256_fmadd_ps(_mm256_set1_ps(0.125f), m[6], dp)),
                         m[5]);
}

/* The products of nt tiles ([v][q][tile][16]) -> their 2 x 4 outputs each: A^T down the columns (points 0,
 * 1, -1, infinity, -2), then along the rows, bias, activation, into ob[0] and ob[1] (columns past wo
 * dropped). */
XNV_FC256 XNV_FC_INLINE void xnv_wg_out_avx2(const xnv_fconv_t *p, const float *prod, int t0, int nt, int cb,
                                             float *const ob[2]) {
    const int64_t ps = XNV_WG_NT * XNV_FC_BLK;
    const int relu = p->relu, slope = p->slope != 0, wo = p->wo, o = p->o;
    for (int h = 0; h < 2; h++) {
        const int l = cb + 8 * h;
        const __m256 b = p->bias ? _mm256_loadu_ps(p->bias + l) : _mm256_setzero_ps();
        const __m256 s = slope ? _mm256_loadu_ps(p->slope + l) : _mm256_setzero_ps();
        for (int i = 0; i < nt; i++) {
            const float *m = prod + i * XNV_FC_BLK + 8 * h;
            __m256 r0[7], r1[7];
            for (int q = 0; q < XNV_WG_PTS; q++) {
#define XNV_WG_M(v) _mm256_loadu_ps(m + ((v) * XNV_WG_PTS + q) * ps)
                const __m256 m1 = XNV_WG_M(1), m2 = XNV_WG_M(2), m4 = XNV_WG_M(4);
                r0[q] = _mm256_add_ps(_mm256_add_ps(XNV_WG_M(0), m1), _mm256_add_ps(m2, m4));
                r1[q] = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), m4, _mm256_add_ps(_mm256_sub_ps(m1, m2), XNV_WG_M(3)));
#undef XNV_WG_M
            }
            __m256 y[2][4];
            xnv_wg_cols_avx2(r0, y[0]);
            xnv_wg_cols_avx2(r1, y[1]);
            for (int r = 0; r < 2; r++)
                for (int j = 0; j < 4; j++) {
                    const int col = 4 * (t0 + i) + j;
                    if (col >= wo) break;
                    __m256 v = _mm256_add_ps(y[r][j], b);
                    if (relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
                    if (slope)
                        v = _mm256_blendv_ps(v, _mm256_mul_ps(v, s),
                                             _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
                    _mm256_storeu_ps(ob[r] + (int64_t)col * o + l, v);
                }
        }
    }
}

/* A tile block of nt tiles, channels [cb, cb + 16): each pair of points' products, then the outputs. */
XNV_FC256 XNV_FC_INLINE void xnv_wg_block_avx2(const xnv_fconv_t *p, xnv_wg_t *g, int t0, int nt, int cb,
                                               float *const ob[2]) {
    const int c = p->c, o = p->o;
    const int64_t st = xnv_wg_stride(p);
    const float *x = g->pair + t0, *w = p->wino + XNV_WG_BT_FLOATS + cb;
    float *prod = g->prod;
    for (int v = 0; v < XNV_WG_VPTS; v++)
        for (int q = 0; q < XNV_WG_PTS; q++, prod += XNV_WG_NT * XNV_FC_BLK) {
            const int kc = xnv_wg_nv(v) * xnv_wg_nh(q) * c;
            xnv_wg_mm_avx2(x, kc, st, w, o, prod, nt);
            x += kc * st;
            w += (int64_t)kc * o;
        }
    xnv_wg_out_avx2(p, g->prod, t0, nt, cb, ob);
}

/* xnv_fc_wpair_t: conv rows `row` and row + 1 of an image. */
XNV_FC256 static void xnv_wg_pair_avx2(const xnv_fconv_t *p, xnv_wg_t *g, const float *x, int64_t rl, int64_t g0,
                                       int y0, int ny, int64_t row, float *ob0, float *ob1) {
    const int iy = (int)(row % p->ho) * p->sh - p->ph; /* the pair's first input row: tap row 0 of row */
    const float *rows[2][5];
    for (int j = 0; j < p->kh + p->sh; j++) { /* input row iy + j: phase j % 2, place j / 2 */
        const int y = iy + j;
        rows[j % 2][j / 2] =
            y >= y0 && y < y0 + ny ? xnv_wg_row_avx2(p, g, x + (y - y0) * rl, g0 + (y - y0)) : g->zero;
    }
    xnv_wg_down_avx2(p, rows, g->pair);
    float *const ob[2] = {ob0 ? ob0 : g->spare, ob1 ? ob1 : g->spare};
    const int tiles = xnv_wg_tiles(p);
    for (int cb = 0; cb < p->o; cb += XNV_FC_BLK) /* a block's weights stay in cache across the pair */
        for (int t0 = 0; t0 < tiles; t0 += XNV_WG_NT) {
            switch (tiles - t0 < XNV_WG_NT ? tiles - t0 : XNV_WG_NT) {
            case 6: xnv_wg_block_avx2(p, g, t0, 6, cb, ob); break;
            case 5: xnv_wg_block_avx2(p, g, t0, 5, cb, ob); break;
            case 4: xnv_wg_block_avx2(p, g, t0, 4, cb, ob); break;
            case 3: xnv_wg_block_avx2(p, g, t0, 3, cb, ob); break;
            case 2: xnv_wg_block_avx2(p, g, t0, 2, cb, ob); break;
            default: xnv_wg_block_avx2(p, g, t0, 1, cb, ob); break;
            }
        }
}

#endif /* XNV_FC_WINO_H */
