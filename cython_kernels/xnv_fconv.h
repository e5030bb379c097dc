/* Direct float32 convolution for few taps x channels (a detector's first layer: 3x3 x 3 channels -> 16),
 * NHWC input, weights [kh][kw][C][O] (HWIO), output [N][Ho][Wo][O]; zero padding, any stride, optional
 * bias and ReLU. Chosen at run time like xnv_simd.h (the build never uses -march=native):
 *   - AVX-512F: 16 output channels a zmm, tiles of up to 4 such blocks x 6 to 16 output pixels (24 or 16
 *     independent FMA chains; each input value broadcast once for all the tile's channels);
 *   - AVX2+FMA: 16 output channels in two ymm, tiles of 6 pixels (3 for a row's last few; a 3x3 stem's
 *     unrolled), single pixels with every block of up to 64 channels at once; up to 8 outputs (a detector's
 *     heads), 8 pixels in the lanes of one ymm a channel, the same sums;
 *   - portable C on 4-float vectors (GCC/Clang vector extensions): SSE2 on x86-64, NEON (with FMA) on
 *     AArch64, tiles of 2 (x86) or 4 (AArch64: 32 registers) pixels.
 * A tile broadcasts one input value per pixel and multiplies it into the weight vector of that tap and
 * channel: no im2col and no horizontal sums, whatever O is (the last block of 16 channels is masked).
 * For one row and one tap row dy, the taps (dx, c) of a pixel are kw*C consecutive floats in both the
 * input and the weights, so a tile walks j in [0, kw*C) and padding only clips that range: rows at the
 * top and bottom drop tap rows, the few pixels at the left and right edges get a clipped j range.
 *
 * A fused 2x2 stride-2 max pool (pool = 2): a thread computes conv rows 2r and 2r + 1 (the first 2 * (wo / 2)
 * columns; an odd last row or column is never computed), XNV_FC_POOL_COLS columns at a time, into a small
 * buffer of its own and writes the max of each 2x2 block, so the full-size conv output never goes to
 * memory. The fold is kernels.maxpool2d's (xnv_pool.h): row-major cells, acc = s > acc ? s : acc (MAXPS
 * with the later cell first), hence bit for bit maxpool2d(conv, 2, 2), NaN payloads and -0/+0 included;
 * the conv values are the unfused ones (a pixel's sum does not depend on the tile that computes it). A
 * thread's two conv rows read their uint8 input rows from one fill of its scratch rows (kh + sh at most).
 * On AVX2 a 3x3 stem of 16 outputs skips the buffer where it can: each pooled pixel whose 2 x 2 conv pixels
 * see every tap comes from one tile of those four (xnv_fc_stem_pooled_avx2), folded in the pool's order
 * (the faces stem: 0.92-0.93x its time, scripts/ab_builds.py layers --layer faces-stem, one thread).
 * A fused 3x3 stride-2 max pool with padding 1 (pool = 3, ResNet's stem): pooled row py reads conv rows
 * 2py - 1 .. 2py + 1, so a thread keeps a ring of three whole conv rows (slot: conv row % 3) and computes
 * each conv row once; the 3.2 MB conv output of a 224x224 ResNet stem never leaves the core's caches. The
 * fold is again maxpool2d's: the window's cells inside the conv output, row-major, the first one starting
 * it. Either pool may write the packed signs of the pooled result (bits) as each pooled row is done.
 *
 * uint8 input (x8 set, x NULL): an image [n][h][w_in][cx] read through a table, tap channel k of a pixel
 * being lut[k][its byte chan[k]]. Each thread keeps the input rows that its output rows need as float rows
 * in a scratch buffer, laid out like the float input (w_in * c floats a row), and runs the unchanged tiles
 * on them: the sums are those of the float path on the table's values, bit for bit. Each input row is
 * converted once per thread, several rows in one loop. The look-ups are scalar, 2 loads and a store a
 * value (~0.25 ns): AVX-512/AVX2 gathers (of the bytes, then from the table) were slower, and so was
 * converting a row a few columns ahead of the tile that reads them (to overlap look-ups and FMAs). A table
 * that is affine the way the runtime builds it converts by vectors on x86-64 with AVX2 (xnv_fc_u8v_t):
 * the same floats.
 */
#ifndef XNV_FCONV_H
#define XNV_FCONV_H

#include <stdint.h>
#include <string.h>

#include "xnv_simd.h"
#include "xnv_steal.h"
#include "xnv_vec8.h"

#define XNV_FC_BLK 16 /* output channels per block */

/* Conv columns a thread computes at a time before pooling them (pool = 2): 2 rows x 32 pixels x o floats
 * (4 KB for o = 16) stay in L1 between the conv's stores and the pool's loads. Whole 2-row buffers (26 KB
 * for a 208-pixel row, next to the uint8 path's 30 KB of rows) were read back from L2: the pool then cost
 * ~30 us on top of a 390 us 320x416 stem (AVX-512, one thread), against ~3-10 us in chunks of 32. */
#define XNV_FC_POOL_COLS 32
/* A chunk is a whole number of tiles (np pixels), at least XNV_FC_POOL_COLS columns and even: 36 for tiles
 * of 6 and 12 (no overlapping last tile in each chunk: AVX2's pooled faces stem 0.38 -> 0.35 ms). */
#define XNV_FC_POOL_CHUNK(np) (((XNV_FC_POOL_COLS + (np) - 1) / (np) * (np) + 1) / 2 * 2)
#define XNV_FC_POOL_COLS_MAX 48 /* the largest chunk, for tiles of up to 16 pixels */

typedef struct {
    const float *x;    /* input [n][h][w_in][c] */
    const float *w;    /* weights [kh][kw][c][o] */
    const float *bias; /* [o], or NULL */
    float *out;        /* [n][ho][wo][o]; pool 2: [n][ho / 2][wo / 2][o]; 3: [n][(ho + 1) / 2][(wo + 1) / 2][o] */
    int h, w_in, c, kh, kw, sh, sw, ph, pw, ho, wo, o, relu; /* ho, wo: the conv's output, before any pool */
    int pool;            /* 0; 2: a fused 2x2 stride-2 max pool (kernels.maxpool2d(out, 2, 2)); 3: 3x3, stride 2,
                            padding 1 (kernels.maxpool2d(out, 3, 2, 1)) */
    int n;               /* images */
    int64_t ps;          /* input floats between a tile's pixels: sw * c (a row), or an image (batched tiles) */
    const float *slope;  /* [o], or NULL: PReLU v < 0 ? v * slope : v after the sum (as kernels.prelu) */
    uint64_t *bits;      /* out's shape with ceil(o / 64) words a pixel, or NULL: out's packed signs (pack_bits) */
    xnv_pack_f32_t pack; /* with bits: pack_bits' row function of the path */
    /* uint8 input (x8 NULL: float input x) */
    const uint8_t *x8;   /* [n][h][w_in][cx] */
    int cx;              /* channels of x8 */
    int rows;            /* float rows per thread in the scratch buffer: xnv_fc_u8_nrows */
    const int32_t *chan; /* [c]: the channel of x8 read by tap channel k */
    const float *lut;    /* [c][256]: tap channel k of byte v -> lut[k * 256 + v] */
    const struct xnv_fc_u8v *u8v; /* NULL, or the vector conversion's tables (xnv_fc_u8_vec_bind) */
    const float *wino;   /* NULL, or the tables of a Winograd conv (xnv_fc_wino.h; xnv_wg_fits) */
    xnv_steal_t *own;    /* NULL: a driver computes all of its rows [r0, r1); else the calling thread's range
                            (xnv_steal.h), from which it takes each row (or position) before computing it and
                            stops at the first another thread took */
} xnv_fconv_t;

/* Rows [q, q + n) taken for the calling thread: how many of them (all without p->own). */
static inline int64_t xnv_fc_take(const xnv_fconv_t *p, int64_t q, int64_t n) {
    return p->own ? xnv_steal_take(p->own, q, n) : n;
}

/* ------------------------------------------------ Winograd convs (xnv_fc_wino.h): sizes and a thread's state */
#define XNV_WG_PTS 7     /* points along a row */
#define XNV_WG_SHARED 6  /* of them summed over both phases of the taps */
#define XNV_WG_VPTS 5    /* points down the columns */
#define XNV_WG_VSHARED 4 /* of them summed over both phases */
#define XNV_WG_RING 16   /* transformed input rows a thread keeps (a pair of conv rows reads 9) */
#define XNV_WG_NT 6      /* tiles at a time: 6 x 2 ymm accumulators */
#define XNV_WG_BT_FLOATS (2 * XNV_WG_PTS * XNV_WG_PTS + 2 * XNV_WG_VPTS * XNV_WG_VPTS)

/* Tiles of 2 rows x 4 columns in a pair of conv rows, and the floats between a transformed row's channels
 * (whole vectors). */
static inline int xnv_wg_tiles(const xnv_fconv_t *p) { return (p->wo + 3) / 4; }
static inline int64_t xnv_wg_stride(const xnv_fconv_t *p) { return ((int64_t)xnv_wg_tiles(p) + 7) / 8 * 8; }
/* One input row transformed along the row: [point][phase][c][stride] (point 1/2: one phase, the last). */
static inline int64_t xnv_wg_row_floats(const xnv_fconv_t *p) {
    return (int64_t)(2 * XNV_WG_SHARED + 1) * p->c * xnv_wg_stride(p);
}
/* The 8 column phases of one input row ([c][8][stride + 8]: column 8m + s - pw in [s][m]). */
static inline int64_t xnv_wg_phase_floats(const xnv_fconv_t *p) { return (int64_t)p->c * 8 * (xnv_wg_stride(p) + 8); }
/* A pair of rows' transforms down the columns: for each row point and row point's phase, a row (9 x 13). */
static inline int64_t xnv_wg_pair_floats(const xnv_fconv_t *p) {
    return (int64_t)(2 * XNV_WG_VSHARED + 1) * xnv_wg_row_floats(p);
}
/* A thread's scratch: the ring, a zero row (rows outside the image), the phases, the pair's transforms, a
 * tile block's products ([row point][point][XNV_WG_NT][16]) and a conv row nobody reads. */
static inline int64_t xnv_wg_floats(const xnv_fconv_t *p) {
    return (XNV_WG_RING + 1) * xnv_wg_row_floats(p) + xnv_wg_phase_floats(p) + xnv_wg_pair_floats(p) +
           XNV_WG_VPTS * XNV_WG_PTS * XNV_WG_NT * XNV_FC_BLK + (int64_t)p->wo * p->o;
}

/* A thread's state: its scratch parts, and the global input row held by each slot of the ring (-1: none). */
typedef struct {
    float *ring, *zero, *phase, *pair, *prod, *spare;
    int64_t held[XNV_WG_RING];
} xnv_wg_t;

static inline void xnv_wg_init(const xnv_fconv_t *p, xnv_wg_t *g, float *scratch) {
    const int64_t rf = xnv_wg_row_floats(p);
    g->ring = scratch;
    g->zero = g->ring + XNV_WG_RING * rf;
    g->phase = g->zero + rf;
    g->pair = g->phase + xnv_wg_phase_floats(p);
    g->prod = g->pair + xnv_wg_pair_floats(p);
    g->spare = g->prod + XNV_WG_VPTS * XNV_WG_PTS * XNV_WG_NT * XNV_FC_BLK;
    memset(g->zero, 0, (size_t)rf * sizeof(float));
    for (int s = 0; s < XNV_WG_RING; s++) g->held[s] = -1;
}

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

/* Floats of a thread's scratch buffer: the uint8 input's float rows, then the pool's conv rows (pool 2: two
 * chunks of columns; pool 3: a ring of three whole rows), then a Winograd conv's (xnv_wg_init); each part a
 * multiple of 16 floats. */
static int64_t xnv_fc_u8_floats(const xnv_fconv_t *p) {
    return p->x8 ? ((int64_t)p->rows * p->w_in * p->c + 15) / 16 * 16 : 0;
}
static int64_t xnv_fc_scratch_floats(const xnv_fconv_t *p) {
    const int64_t conv = p->pool == 3 ? (int64_t)3 * p->wo * p->o
                         : p->pool ? (int64_t)2 * (p->wino ? p->wo : XNV_FC_POOL_COLS_MAX) * p->o : 0;
    return xnv_fc_u8_floats(p) + conv + (p->wino ? xnv_wg_floats(p) : 0);
}

/* One tile: npx output pixels (sw*c floats apart in x, o apart in out), ndy tap rows, nj taps per row;
 * x and w point at the first tap used. */
typedef void (*xnv_fc_tile_t)(const xnv_fconv_t *p, const float *x, const float *w, float *out, int ndy,
                              int nj);
/* Output rows [r0, r1) (pooled rows with pool); scratch: this thread's xnv_fc_scratch_floats(p) floats
 * (NULL when that is 0). Returns the NaN results packed into bits (0 without bits): their sign is undefined.
 * Batched (xnv_fconv_batched): output positions [r0, r1) of every image, scratch np * o floats. */
typedef int (*xnv_fconv_rows_t)(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch);
/* One pooled pixel of a conv with a fused 2x2 pool, from its 2 x 2 conv pixels at once (all their taps inside
 * the image): x0 and x1 point at the first tap of the top and bottom conv rows' left pixel, w at the weights;
 * the pooled pixel goes to out. */
typedef void (*xnv_fc_ptile_t)(const xnv_fconv_t *p, const float *x0, const float *x1, const float *w, float *out);
/* The 2x2 max pool of two conv rows a and b (2 * wp pixels of o floats each) -> wp pixels of out. */
typedef void (*xnv_fc_pool_t)(const float *a, const float *b, int wp, int o, float *out);
/* A 3x3 stride-2 max pool with padding 1 of the nh (1 to 3) conv rows rows[0 .. nh) of wo pixels each, the
 * window's rows inside the conv output -> wp = (wo + 1) / 2 pixels of out. */
typedef void (*xnv_fc_pool3_t)(const float *const *rows, int nh, int wo, int o, float *out);
/* A pair of conv rows at once (a path's Winograd conv, xnv_fc_wino.h), for convs with p->wino: conv rows
 * `row` (= image * ho + oy, oy even) and row + 1 into ob0 and ob1 (NULL: not wanted, or past the image), from
 * the ny input rows at x (rl floats apart) that lie in the image, the first one image row y0 and global row
 * g0, through the thread's state g. */
typedef void (*xnv_fc_wpair_t)(const xnv_fconv_t *p, xnv_wg_t *g, const float *x, int64_t rl, int64_t g0, int y0,
                               int ny, int64_t row, float *ob0, float *ob1);

#if defined(__GNUC__)
#define XNV_FC_INLINE static inline __attribute__((always_inline))
#else
#define XNV_FC_INLINE static inline
#endif

/* Output pixel ox (at opx) alone, its taps dx clipped to [dx0, dx1), the ones inside the image: the edges,
 * and interior pixels too few for a tile (the same sums as a tile's). */
XNV_FC_INLINE void xnv_fc_edge(const xnv_fconv_t *p, const float *xrow, const float *wrow, float *opx, int ndy,
                               int ox, xnv_fc_tile_t one) {
    const int ix = ox * p->sw - p->pw;
    const int dx0 = ix < 0 ? -ix : 0, dx1 = p->w_in - ix < p->kw ? p->w_in - ix : p->kw;
    if (dx1 <= dx0) { /* no tap inside (only with padding >= kernel): the bias alone */
        one(p, xrow, wrow, opx, 0, 0);
        return;
    }
    one(p, xrow + (int64_t)(ix + dx0) * p->c, wrow + (int64_t)dx0 * p->c * p->o, opx, ndy, (dx1 - dx0) * p->c);
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

/* The vector conversion (x86-64 with AVX2), for tables that are affine the way the runtime builds them:
 * lut[k][v] == (float)v * scale[k] + shift[k], rounded after the product and again after the sum, for every
 * byte v. Then 8 pixels (8c values, c groups of 8) convert with a byte shuffle (the channel map), a widening,
 * an int -> float conversion, a multiply and an add a group: the table's floats, bit for bit. The look-ups
 * were a third of the faces stem's time; with vectors the stem takes 0.77-0.80x its time (scripts/
 * ab_builds.py layers --layer faces-stem, 1 and 2 threads). Up to 4 channels. */
#define XNV_FC_U8V_MAXC 4
typedef struct xnv_fc_u8v {
    float scale[XNV_FC_U8V_MAXC][8], shift[XNV_FC_U8V_MAXC][8]; /* lane i of group g: channel (8g + i) % c */
    uint8_t mask[XNV_FC_U8V_MAXC][16]; /* the byte of lane i of group g, counted from base[g] */
    int base[XNV_FC_U8V_MAXC];         /* where a group's load starts in its 8 pixels' 8 * cx bytes */
    int wide;                          /* 16-byte loads (8 pixels hold at least 16 bytes), else 8-byte ones */
} xnv_fc_u8v_t;

#if defined(__x86_64__)
static int xnv_fc_u8_vec_avx2(const xnv_fconv_t *p, const uint8_t *src, float *dst, int npx);
#endif

/* Pixels [px0, px1) of uint8 rows (consecutive rows are consecutive pixels) -> w_in * c floats a row. */
static void xnv_fc_u8_px(const xnv_fconv_t *p, const uint8_t *src, float *dst, int px0, int px1) {
#if defined(__x86_64__)
    if (p->u8v) px0 += xnv_fc_u8_vec_avx2(p, src + (int64_t)px0 * p->cx, dst + (int64_t)px0 * p->c, px1 - px0);
#endif
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

/* Whether (float)v * scale + shift, rounded twice, is t[v] bit for bit for every byte v, no product a
 * subnormal (a thread flushing those to zero would convert otherwise). */
static int xnv_fc_u8_is_affine(const float *t, float scale, float shift) {
    for (int v = 0; v < 256; v++) {
        const float m = (float)v * scale, r = m + shift;
        if (m != 0.0f && !(m > 1.17549435e-38f || m < -1.17549435e-38f)) return 0;
        if (memcmp(&r, t + v, sizeof r)) return 0;
    }
    return 1;
}

/* The scale and shift that give one channel's table t [256] (xnv_fc_u8_is_affine), or 0: the shift is t[0]
 * (byte 0), the scale one of the floats next to (t[255] - t[0]) / 255. */
static int xnv_fc_u8_affine(const float *t, float *scale, float *shift) {
    const float guess = (t[255] - t[0]) / 255.0f;
    uint32_t bits;
    memcpy(&bits, &guess, sizeof bits);
    if ((bits & 0x7f800000u) == 0x7f800000u) return 0; /* inf or NaN */
    for (int i = 0; i <= 32; i++) { /* the guess, then 1, -1, 2, -2, ... floats away */
        const uint32_t b = bits + (uint32_t)(i % 2 ? (i + 1) / 2 : -(i / 2));
        float s;
        memcpy(&s, &b, sizeof s);
        if (xnv_fc_u8_is_affine(t, s, t[0])) {
            *scale = s;
            *shift = t[0];
            return 1;
        }
    }
    return 0;
}

/* Fill v for tables t [c][256] and channel map chan, when the path converts by vectors (AVX2 or AVX-512, on
 * x86-64), c <= XNV_FC_U8V_MAXC and every channel's table is affine: v, else NULL (the look-ups). */
static const xnv_fc_u8v_t *xnv_fc_u8_vec_bind(const float *t, const int32_t *chan, int c, int cx, int vector,
                                              xnv_fc_u8v_t *v) {
#if defined(__x86_64__)
    float scale[XNV_FC_U8V_MAXC], shift[XNV_FC_U8V_MAXC];
    if (!vector || c > XNV_FC_U8V_MAXC) return 0;
    for (int k = 0; k < c; k++)
        if (!xnv_fc_u8_affine(t + k * 256, scale + k, shift + k)) return 0;
    v->wide = 8 * cx >= 16;
    for (int g = 0; g < c; g++) {
        const int first = 8 * g / c * cx;
        v->base[g] = v->wide ? (first < 8 * cx - 16 ? first : 8 * cx - 16) : 0;
        for (int i = 0; i < 8; i++) {
            const int j = 8 * g + i, k = j % c, at = j / c * cx + chan[k] - v->base[g];
            if (at < 0 || at >= (v->wide ? 16 : 8)) return 0;
            v->mask[g][i] = (uint8_t)at;
            v->mask[g][8 + i] = 0x80; /* the upper half is never read */
            v->scale[g][i] = scale[k];
            v->shift[g][i] = shift[k];
        }
    }
    return v;
#else
    (void)t, (void)chan, (void)c, (void)cx, (void)vector, (void)v;
    return 0;
#endif
}

/* A thread's scratch rows: global input rows (image * h + y) [first, first + n) in its rows [0, n); the
 * thread reads no row from `end` on. */
typedef struct {
    float *buf;
    int64_t first, end;
    int n;
} xnv_fc_u8_t;

/* A thread's `end` (the global input row after the last one it reads) when its last conv row is row oy of
 * `image` (oy may be ho: a Winograd pair's second row past the image reads no further rows). */
static inline int64_t xnv_fc_u8_end(const xnv_fconv_t *p, int64_t image, int oy) {
    const int iy = oy * p->sh - p->ph;
    return image * p->h + (p->h - iy < p->kh ? p->h : iy + p->kh);
}

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

/* Columns [c0, c1) of one output row into ob (ob: column c0); interior columns [lo, hi) (every horizontal
 * tap inside the image) in tiles of `np` pixels, the last few in one tile of `np2` (`tile2`, when not NULL)
 * if they fit it, else in a tile of `np`, each such tile overlapping the one before rather than running
 * short; an interior shorter than np in tiles of np2; single pixels at the clipped edges (and where the
 * interior is shorter than every tile). */
XNV_FC_INLINE void xnv_fc_cols(const xnv_fconv_t *p, const float *xrow, const float *wrow, int ndy, float *ob,
                               int c0, int c1, int lo, int hi, xnv_fc_tile_t tile, int np, xnv_fc_tile_t tile2,
                               int np2, xnv_fc_tile_t one) {
    const int kwc = p->kw * p->c, o = p->o;
    const int a = lo > c0 ? (lo < c1 ? lo : c1) : c0, z = hi < c1 ? (hi > a ? hi : a) : c1; /* interior */
    for (int ox = c0; ox < a; ox++) xnv_fc_edge(p, xrow, wrow, ob + (int64_t)(ox - c0) * o, ndy, ox, one);
    if (z - a < np && tile2 && z - a >= np2) {
        tile = tile2;
        np = np2;
    }
    if (z - a >= np) {
        const int full = a + (z - a) / np * np, rest = z - full;
        for (int s = a; s < full; s += np)
            tile(p, xrow + ((int64_t)s * p->sw - p->pw) * p->c, wrow, ob + (int64_t)(s - c0) * o, ndy, kwc);
        if (rest) { /* the last pixels: a half tile when they fit one (ResNet's stem: 3 pixels, not 6) */
            const xnv_fc_tile_t last = tile2 && rest <= np2 ? tile2 : tile;
            const int s = z - (tile2 && rest <= np2 ? np2 : np);
            last(p, xrow + ((int64_t)s * p->sw - p->pw) * p->c, wrow, ob + (int64_t)(s - c0) * o, ndy, kwc);
        }
    } else {
        for (int ox = a; ox < z; ox++) xnv_fc_edge(p, xrow, wrow, ob + (int64_t)(ox - c0) * o, ndy, ox, one);
    }
    for (int ox = z; ox < c1; ox++) xnv_fc_edge(p, xrow, wrow, ob + (int64_t)(ox - c0) * o, ndy, ox, one);
}

/* The interior columns [*lo, *hi) of a row of wo computed columns: every horizontal tap inside the image
 * (lo <= hi, both within [0, wo]). */
static inline void xnv_fc_interior(const xnv_fconv_t *p, int wo, int *lo, int *hi) {
    int a = (p->pw + p->sw - 1) / p->sw;
    int b = p->w_in + p->pw >= p->kw ? (p->w_in + p->pw - p->kw) / p->sw + 1 : 0;
    if (a > wo) a = wo;
    if (b < a) b = a;
    if (b > wo) b = wo;
    *lo = a;
    *hi = b;
}

/* The pair of conv rows from `row` on (xnv_fc_wpair_t), its input rows (kh + sh of them, those in the image)
 * read through the thread's uint8 rows u. */
XNV_FC_INLINE void xnv_fc_wino_pair(const xnv_fconv_t *p, xnv_fc_u8_t *u, xnv_wg_t *g, xnv_fc_wpair_t pair,
                                    int64_t row, float *ob0, float *ob1) {
    const int64_t image = row / p->ho, rl = (int64_t)p->w_in * p->c;
    const int iy = (int)(row % p->ho) * p->sh - p->ph;
    const int y0 = iy < 0 ? 0 : iy, y1 = p->h - iy < p->kh + p->sh ? p->h : iy + p->kh + p->sh;
    const int ny = y1 > y0 ? y1 - y0 : 0;
    const int64_t g0 = image * p->h + y0;
    const float *x = !ny ? p->x : p->x8 ? xnv_fc_u8_rows(p, u, g0, ny) : p->x + g0 * rl;
    pair(p, g, x, rl, g0, y0, ny, row, ob0, ob1);
}

/* Rows [r0, r1) of a Winograd conv, no pool (row = image * ho + oy) or the 2x2 one (pooled rows), by pairs of
 * conv rows: a pooled row's two, or an unpooled row and the next, both written by the thread whose rows they
 * are (a range that starts at an odd row computes the pair before it for that row alone). Each row's signs
 * are packed while it is in L1. */
XNV_FC_INLINE int xnv_fc_rows_wino(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch, xnv_fc_pool_t pool,
                                   xnv_fc_wpair_t pair) {
    const int pooled = p->pool != 0, hp = p->ho / 2, wq = pooled ? p->wo / 2 : p->wo, words = (p->o + 63) / 64;
    const int64_t ors = (int64_t)p->wo * p->o;
    float *cbuf = scratch + xnv_fc_u8_floats(p); /* pool: the pair of conv rows */
    xnv_fc_u8_t u = {scratch, 0, 0, 0};
    xnv_wg_t g;
    xnv_wg_init(p, &g, cbuf + (pooled ? 2 * ors : 0));
    int nan = 0;
    if (p->x8 && r1 > r0) { /* the last conv row computed: the second of the last pair */
        const int64_t last = pooled ? (r1 - 1) / hp * p->ho + (r1 - 1) % hp * 2 : r1 - 1;
        u.end = xnv_fc_u8_end(p, last / p->ho, (int)(last % p->ho) | 1);
    }
    for (int64_t q = r0; q < r1; q++) {
        int64_t last = q; /* the output rows written: q to last */
        if (pooled) {
            if (!xnv_fc_take(p, q, 1)) break;
            xnv_fc_wino_pair(p, &u, &g, pair, q / hp * p->ho + q % hp * 2, cbuf, cbuf + ors);
            pool(cbuf, cbuf + ors, wq, p->o, p->out + q * wq * p->o);
        } else {
            const int oy = (int)(q % p->ho), odd = oy & 1;
            if (odd && q > r0) continue; /* written with the row before */
            const int64_t got = xnv_fc_take(p, q, !odd && oy + 1 < p->ho && q + 1 < r1 ? 2 : 1);
            if (!got) break;
            last = q + got - 1;
            xnv_fc_wino_pair(p, &u, &g, pair, q - odd, odd ? 0 : p->out + q * ors,
                             odd ? p->out + q * ors : last > q ? p->out + last * ors : 0);
        }
        if (p->bits)
            for (int64_t r = q; r <= last; r++)
                for (int px = 0; px < wq; px++)
                    nan += p->pack(p->out + (r * wq + px) * p->o, p->o, p->bits + (r * wq + px) * words);
    }
    return nan;
}

/* One conv row (row = image * ho + oy), every column, into ob; its uint8 input rows through u. */
XNV_FC_INLINE void xnv_fc_conv_row(const xnv_fconv_t *p, xnv_fc_u8_t *u, int64_t row, float *ob, int lo, int hi,
                                   xnv_fc_tile_t tile, int np, xnv_fc_tile_t tile2, int np2, xnv_fc_tile_t one) {
    const int iy = (int)(row % p->ho) * p->sh - p->ph;
    const int dy0 = iy < 0 ? -iy : 0, dy1 = p->h - iy < p->kh ? p->h - iy : p->kh;
    const int ndy = dy1 > dy0 ? dy1 - dy0 : 0; /* 0 only with padding >= kernel */
    const int64_t g0 = row / p->ho * p->h + iy + dy0, rl = (int64_t)p->w_in * p->c;
    const float *wrow = ndy ? p->w + (int64_t)dy0 * p->kw * p->c * p->o : p->w;
    const float *xrow = p->x8 ? (ndy ? xnv_fc_u8_rows(p, u, g0, ndy) : u->buf) : (ndy ? p->x + g0 * rl : p->x);
    xnv_fc_cols(p, xrow, wrow, ndy, ob, 0, p->wo, lo, hi, tile, np, tile2, np2, one);
}

/* Pooled rows [r0, r1) of the 3x3 stride-2 pool with padding 1 (row = image * hp + py): the conv rows of a
 * window are each computed once into the ring (global conv row g in slot g % 3; a window's rows are
 * consecutive, so they never share a slot), then pooled into the output row, whose signs are packed while
 * it is in L1. */
XNV_FC_INLINE int xnv_fc_rows_pool3(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch,
                                    xnv_fc_tile_t tile, int np, xnv_fc_tile_t tile2, int np2, xnv_fc_tile_t one,
                                    xnv_fc_pool3_t pool, xnv_fc_wpair_t wino_pair) {
    const int hp = (p->ho + 1) / 2, wp = (p->wo + 1) / 2, words = (p->o + 63) / 64;
    const int64_t ors = (int64_t)p->wo * p->o;
    float *ring = scratch + xnv_fc_u8_floats(p);
    xnv_fc_u8_t u = {scratch, 0, 0, 0};
    const int pairs = wino_pair && p->wino; /* conv rows by pairs (oy even, oy + 1) */
    xnv_wg_t wg;
    if (pairs) xnv_wg_init(p, &wg, ring + 3 * ors);
    int nan = 0;
    if (p->x8 && r1 > r0) { /* the last conv row computed (the second of its pair with pairs) */
        const int64_t q = r1 - 1;
        const int last = (int)(q % hp) * 2 + 1 < p->ho ? (int)(q % hp) * 2 + 1 : p->ho - 1;
        u.end = xnv_fc_u8_end(p, q / hp, pairs ? last | 1 : last);
    }
    int lo, hi;
    xnv_fc_interior(p, p->wo, &lo, &hi);
    int64_t done = -1; /* the last conv row computed (rows only go up) */
    for (int64_t q = r0; q < r1 && xnv_fc_take(p, q, 1); q++) {
        const int64_t image = q / hp;
        const int py = (int)(q % hp), ya = py > 0 ? 2 * py - 1 : 0, yb = 2 * py + 2 < p->ho ? 2 * py + 2 : p->ho;
        const float *rows[3];
        for (int oy = ya; oy < yb; oy++) {
            const int64_t g = image * p->ho + oy;
            if (g > done && pairs) { /* its pair: the rows of the window are never the other row's slot */
                const int64_t first = g - (oy & 1);
                const int second = oy - (oy & 1) + 1 < p->ho;
                xnv_fc_wino_pair(p, &u, &wg, wino_pair, first, ring + first % 3 * ors,
                                 second ? ring + (first + 1) % 3 * ors : 0);
                done = first + second;
            } else if (g > done) {
                xnv_fc_conv_row(p, &u, g, ring + g % 3 * ors, lo, hi, tile, np, tile2, np2, one);
                done = g;
            }
            rows[oy - ya] = ring + g % 3 * ors;
        }
        float *orow = p->out + q * wp * p->o;
        pool(rows, yb - ya, p->wo, p->o, orow);
        if (p->bits)
            for (int px = 0; px < wp; px++)
                nan += p->pack(orow + (int64_t)px * p->o, p->o, p->bits + (q * wp + px) * words);
    }
    return nan;
}

/* Output rows [r0, r1) (row = image * ho + oy). With pool, pooled rows (image * (ho / 2) + py): conv rows
 * 2 py and 2 py + 1, XNV_FC_POOL_CHUNK(np) columns at a time into the scratch buffer, each chunk then
 * pooled. */
XNV_FC_INLINE int xnv_fc_rows(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch, xnv_fc_tile_t tile,
                              int np, xnv_fc_tile_t tile2, int np2, xnv_fc_tile_t one, xnv_fc_pool_t pool,
                              xnv_fc_pool3_t pool3, xnv_fc_wpair_t wino_pair, xnv_fc_ptile_t ptile) {
    if (p->pool == 3) return xnv_fc_rows_pool3(p, r0, r1, scratch, tile, np, tile2, np2, one, pool3, wino_pair);
    if (wino_pair && p->wino) return xnv_fc_rows_wino(p, r0, r1, scratch, pool, wino_pair);
    const int64_t kwc = (int64_t)p->kw * p->c, rl = (int64_t)p->w_in * p->c;
    const int u8 = p->x8 != 0, pooled = p->pool != 0;
    const int hp = p->ho / 2, wo = pooled ? p->wo / 2 * 2 : p->wo; /* conv columns computed */
    const int chunk = pooled ? XNV_FC_POOL_CHUNK(np) : wo;
    const int64_t ors = (int64_t)wo * p->o; /* floats of a conv row */
    float *cbuf = pooled ? scratch + xnv_fc_u8_floats(p) : 0;
    xnv_fc_u8_t u = {scratch, 0, 0, 0};
    const int words = (p->o + 63) / 64;
    int nan = 0;
    if (u8 && r1 > r0) { /* the last conv row computed */
        const int64_t last = pooled ? (r1 - 1) / hp * p->ho + (r1 - 1) % hp * 2 + 1 : r1 - 1;
        u.end = xnv_fc_u8_end(p, last / p->ho, (int)(last % p->ho));
    }
    int lo, hi;
    xnv_fc_interior(p, wo, &lo, &hi);
    for (int64_t q = r0; q < r1 && xnv_fc_take(p, q, 1); q++) {
        /* the conv rows of this step (two with pool): their input rows and first tap row */
        const float *xrow[2] = {0, 0}, *wrow[2] = {0, 0};
        int ndy[2] = {0, 0};
        int64_t g0[2] = {0, 0}, gfirst = -1, gend = 0;
        for (int half = 0; half <= pooled; half++) {
            const int64_t r = pooled ? q / hp * p->ho + q % hp * 2 + half : q;
            const int iy = (int)(r % p->ho) * p->sh - p->ph;
            const int dy0 = iy < 0 ? -iy : 0, dy1 = p->h - iy < p->kh ? p->h - iy : p->kh;
            ndy[half] = dy1 > dy0 ? dy1 - dy0 : 0; /* 0 only with padding >= kernel */
            g0[half] = r / p->ho * p->h + iy + dy0; /* the first input row read */
            wrow[half] = ndy[half] ? p->w + dy0 * kwc * p->o : p->w;
            xrow[half] = u8 ? scratch : (ndy[half] ? p->x + g0[half] * rl : p->x);
            if (ndy[half]) {
                if (gfirst < 0) gfirst = g0[half];
                gend = g0[half] + ndy[half];
            }
        }
        if (u8 && gfirst >= 0) { /* both rows' inputs from one call: kh + sh rows at most, which it holds */
            const float *buf = xnv_fc_u8_rows(p, &u, gfirst, (int)(gend - gfirst));
            for (int half = 0; half <= pooled; half++)
                if (ndy[half]) xrow[half] = buf + (g0[half] - gfirst) * rl;
        }
        /* pooled columns [pa, pb) whose 2 x 2 conv pixels see every tap: a pooled tile each (ptile), no conv
         * rows in between; the other columns through conv rows and the pool */
        int pa = 0, pb = 0;
        if (ptile && ndy[0] == p->kh && ndy[1] == p->kh) {
            pa = (lo + 1) / 2;
            pb = hi / 2 > pa ? hi / 2 : pa;
        }
        for (int pc = pa; pc < pb; pc++) {
            const int64_t at = ((int64_t)2 * pc * p->sw - p->pw) * p->c;
            ptile(p, xrow[0] + at, xrow[1] + at, p->w, p->out + q * (ors / 2) + (int64_t)pc * p->o);
        }
        for (int part = 0; part < 2; part++) {
            const int end = part ? wo : 2 * pa;
            for (int c0 = part ? 2 * pb : 0; c0 < end; c0 += chunk) {
                const int c1 = c0 + chunk < end ? c0 + chunk : end;
                for (int half = 0; half <= pooled; half++) {
                    float *ob = pooled ? cbuf + (int64_t)half * chunk * p->o : p->out + q * ors;
                    xnv_fc_cols(p, xrow[half], wrow[half], ndy[half], ob, c0, c1, lo, hi, tile, np, tile2, np2, one);
                }
                if (pooled)
                    pool(cbuf, cbuf + (int64_t)chunk * p->o, (c1 - c0) / 2, p->o,
                         p->out + q * (ors / 2) + (int64_t)c0 / 2 * p->o);
            }
        }
        if (p->bits) { /* the row's signs while it is in L1 */
            const int wq = pooled ? wo / 2 : wo;
            for (int ox = 0; ox < wq; ox++)
                nan += p->pack(p->out + (q * wq + ox) * p->o, p->o, p->bits + (q * wq + ox) * words);
        }
    }
    return nan;
}

/* Tiles across the batch, for small images: output positions [s0, s1) (oy * wo + ox) of every image, np
 * images at a time (the last np overlapping the ones before; needs n >= np), each position's taps clipped
 * alike in all of them. Rows of a small image are shorter than a tile (an 8x8 output: 6 interior pixels
 * against 12 for 32 channels), so a row tile would leave every pixel to the 1-pixel code, which waits on
 * the latency of its few FMA chains; batched, every pixel is in a full tile. Each lane sums bias, then
 * (dy, j) in order, as in a row tile: the same results. The tile writes into tmp (np * o floats), copied
 * out pixel by pixel. */
XNV_FC_INLINE int xnv_fc_batch(const xnv_fconv_t *p, int64_t s0, int64_t s1, float *tmp, xnv_fc_tile_t tile,
                               int np) {
    const int n = p->n;
    xnv_fconv_t q = *p;
    const int64_t image = (int64_t)p->h * p->w_in * p->c, positions = (int64_t)p->ho * p->wo;
    const int words = (p->o + 63) / 64;
    int nan = 0;
    q.ps = image;
    for (int64_t s = s0; s < s1 && xnv_fc_take(p, s, 1); s++) {
        const int iy = (int)(s / p->wo) * p->sh - p->ph, ix = (int)(s % p->wo) * p->sw - p->pw;
        const int dy0 = iy < 0 ? -iy : 0, dy1 = p->h - iy < p->kh ? p->h - iy : p->kh;
        const int dx0 = ix < 0 ? -ix : 0, dx1 = p->w_in - ix < p->kw ? p->w_in - ix : p->kw;
        const int inside = dy1 > dy0 && dx1 > dx0; /* else (padding >= kernel) the bias alone */
        const float *x = inside ? p->x + ((int64_t)(iy + dy0) * p->w_in + ix + dx0) * p->c : p->x;
        const float *w = inside ? p->w + ((int64_t)dy0 * p->kw + dx0) * p->c * p->o : p->w;
        for (int g = 0; g < n; g += np) {
            const int i0 = g + np > n ? n - np : g;
            tile(&q, x + i0 * image, w, tmp, inside ? dy1 - dy0 : 0, inside ? (dx1 - dx0) * p->c : 0);
            for (int k = 0; k < np; k++) {
                const int64_t px = (int64_t)(i0 + k) * positions + s;
                memcpy(p->out + px * p->o, tmp + (int64_t)k * p->o, (size_t)p->o * sizeof(float));
                if (p->bits) nan += p->pack(tmp + (int64_t)k * p->o, p->o, p->bits + px * words);
            }
        }
    }
    return nan;
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
                                         int ndy, int nj, int np, const float *bias, const float *slope) {
    const int64_t ps = p->ps, rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
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
            if (slope) {
                const xnv_v4i neg = (xnv_v4i)(a < zero);
                a = (xnv_v4f)(((xnv_v4i)(a * xnv_v4f_load(slope + 4 * v)) & neg) | ((xnv_v4i)a & ~neg));
            }
            memcpy(out + (int64_t)k * o + 4 * v, &a, sizeof a);
        }
}

/* A scalar multiply-add, fused on AArch64 as its vectors are (fmaf is one instruction there): a conv whose
 * outputs are not a multiple of 16 gave other bits than on x86 in its last channels (found when the dense
 * kernel, fused throughout, was checked against the direct kernel under qemu). */
#if defined(__aarch64__)
#include <math.h>
#define XNV_FC_MAC1(acc, x, w) ((acc) = fmaf((x), (w), (acc)))
#else
#define XNV_FC_MAC1(acc, x, w) ((acc) += (x) * (w))
#endif

/* One pixel x the last nl < 16 channels: plain scalar code. */
static void xnv_fc_tail_portable(const xnv_fconv_t *p, const float *x, const float *w, float *out, int ndy,
                                 int nj, int nl, const float *bias, const float *slope) {
    const int64_t rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
    for (int l = 0; l < nl; l++) {
        float acc = bias ? bias[l] : 0.0f;
        for (int dy = 0; dy < ndy; dy++)
            for (int j = 0; j < nj; j++) XNV_FC_MAC1(acc, x[dy * rs + j], w[dy * ws + (int64_t)j * p->o + l]);
        if (p->relu && acc < 0.0f) acc = 0.0f;
        out[l] = slope && acc < 0.0f ? acc * slope[l] : acc;
    }
}

XNV_FC_INLINE void xnv_fc_tile_portable_n(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                          int ndy, int nj, int np) {
    for (int cb = 0; cb < p->o; cb += XNV_FC_BLK) {
        const float *bias = p->bias ? p->bias + cb : 0, *slope = p->slope ? p->slope + cb : 0;
        if (p->o - cb >= XNV_FC_BLK)
            xnv_fc_block_portable(p, x, w + cb, out + cb, ndy, nj, np, bias, slope);
        else
            for (int k = 0; k < np; k++)
                xnv_fc_tail_portable(p, x + k * p->ps, w + cb, out + (int64_t)k * p->o + cb, ndy,
                                     nj, p->o - cb, bias, slope);
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

/* The pool's step, s > acc ? s : acc (NaN > x is false: acc stays, payload and all): MAXPS with s first on
 * x86 (one instruction for the four of a compare and a bitwise select), a compare and a select elsewhere. */
#if defined(__SSE2__) && !defined(__aarch64__)
#include <emmintrin.h>
static inline xnv_v4f xnv_v4f_max(xnv_v4f s, xnv_v4f acc) { return (xnv_v4f)_mm_max_ps((__m128)s, (__m128)acc); }
#elif defined(__aarch64__)
static inline xnv_v4f xnv_v4f_max(xnv_v4f s, xnv_v4f acc) { return vbslq_f32(vcgtq_f32(s, acc), s, acc); }
#else
static inline xnv_v4f xnv_v4f_max(xnv_v4f s, xnv_v4f acc) {
    const xnv_v4i m = (xnv_v4i)(s > acc);
    return (xnv_v4f)(((xnv_v4i)s & m) | ((xnv_v4i)acc & ~m));
}
#endif

static void xnv_fc_pool_portable(const float *a, const float *b, int wp, int o, float *out) {
    for (int px = 0; px < wp; px++) {
        const float *a0 = a + (int64_t)2 * px * o, *a1 = a0 + o, *b0 = b + (int64_t)2 * px * o, *b1 = b0 + o;
        float *op = out + (int64_t)px * o;
        int l = 0;
        for (; l + 4 <= o; l += 4) {
            xnv_v4f v = xnv_v4f_load(a0 + l);
            v = xnv_v4f_max(xnv_v4f_load(a1 + l), v);
            v = xnv_v4f_max(xnv_v4f_load(b0 + l), v);
            v = xnv_v4f_max(xnv_v4f_load(b1 + l), v);
            memcpy(op + l, &v, sizeof v);
        }
        for (; l < o; l++) {
            float v = a0[l];
            v = a1[l] > v ? a1[l] : v;
            v = b0[l] > v ? b0[l] : v;
            op[l] = b1[l] > v ? b1[l] : v;
        }
    }
}

/* The 3x3 stride-2 pool with padding 1 (xnv_fc_pool3_t) on 4-float vectors, scalar for the last o % 4. */
static void xnv_fc_pool3_portable(const float *const *rows, int nh, int wo, int o, float *out) {
    for (int px = 0; px < (wo + 1) / 2; px++) {
        const int xa = px > 0 ? 2 * px - 1 : 0, xb = 2 * px + 2 < wo ? 2 * px + 2 : wo;
        float *op = out + (int64_t)px * o;
        int l = 0;
        for (; l + 4 <= o; l += 4) {
            xnv_v4f v = xnv_v4f_load(rows[0] + (int64_t)xa * o + l);
            for (int dy = 0; dy < nh; dy++)
                for (int x = dy ? xa : xa + 1; x < xb; x++)
                    v = xnv_v4f_max(xnv_v4f_load(rows[dy] + (int64_t)x * o + l), v);
            memcpy(op + l, &v, sizeof v);
        }
        for (; l < o; l++) {
            float v = rows[0][(int64_t)xa * o + l];
            for (int dy = 0; dy < nh; dy++)
                for (int x = dy ? xa : xa + 1; x < xb; x++) {
                    const float c = rows[dy][(int64_t)x * o + l];
                    v = c > v ? c : v;
                }
            op[l] = v;
        }
    }
}

static int xnv_fconv_batch_portable(const xnv_fconv_t *p, int64_t s0, int64_t s1, float *tmp) {
    return xnv_fc_batch(p, s0, s1, tmp, xnv_fc_tile_portable, XNV_FC_PORT_TILE);
}

static int xnv_fconv_rows_portable(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch) {
    return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_portable, XNV_FC_PORT_TILE, 0, 0, xnv_fc_one_portable,
                       xnv_fc_pool_portable, xnv_fc_pool3_portable, 0, 0);
}

/* ------------------------------------------------------------------------------------------------ x86 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define XNV_FC512 __attribute__((target("avx512f")))
#define XNV_FC512_MAXB 4 /* channel blocks a tile holds at once: 64 channels */

/* PReLU as kernels.prelu rounds it (v * a where v < 0, else v; NaN stays) on a tile just stored: np pixels
 * (o floats apart) x nb blocks (masks m). A pass of its own over the stored values, in L1: the same step
 * in the store loop kept the tile's accumulators from staying in registers (twice the time a tile). */
XNV_FC512 static void xnv_fc_prelu_avx512(float *out, const float *slope, int np, int nb, int o,
                                          const __mmask16 *m) {
    for (int b = 0; b < nb; b++) {
        const __m512 a = _mm512_maskz_loadu_ps(m[b], slope + 16 * b);
        for (int k = 0; k < np; k++) {
            float *px = out + (int64_t)k * o + 16 * b;
            const __m512 v = _mm512_maskz_loadu_ps(m[b], px);
            _mm512_mask_storeu_ps(px, m[b], _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(),
                                                                                     _CMP_LT_OQ), v, a));
        }
    }
}

/* np pixels x nb blocks of 16 channels (np * nb <= 24 accumulators + nb weights: 32 zmm), the last block
 * masked to the lanes below o (no read past w, no write past out). One broadcast of an input value feeds nb
 * FMAs and one weight load np of them: ResNet's 7x7 stem (O = 64) does 4 blocks x 6 pixels, 10 loads for 24
 * FMAs, where one block at a time reloaded each input value 4 times (9 loads for 8 FMAs). Every lane still
 * sums bias, then (dy, j) in order, one FMA each: the sums do not depend on the tile shape. */
XNV_FC512 XNV_FC_INLINE void xnv_fc_block_avx512(const xnv_fconv_t *p, const float *x, const float *w,
                                                  float *out, int ndy, int nj, int np, int nb, __mmask16 mlast,
                                                  const float *bias, const float *slope) {
    const int64_t ps = p->ps, rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
    const int o = p->o;
    __mmask16 m[XNV_FC512_MAXB];
    __m512 a[24];
    for (int b = 0; b < nb; b++) {
        m[b] = b == nb - 1 ? mlast : (__mmask16)0xFFFF;
        const __m512 init = bias ? _mm512_maskz_loadu_ps(m[b], bias + 16 * b) : _mm512_setzero_ps();
        for (int k = 0; k < np; k++) a[k * nb + b] = init;
    }
    for (int dy = 0; dy < ndy; dy++) {
        const float *xr = x + dy * rs, *wr = w + dy * ws;
        for (int j = 0; j < nj; j++) {
            __m512 wv[XNV_FC512_MAXB];
            for (int b = 0; b < nb; b++) wv[b] = _mm512_maskz_loadu_ps(m[b], wr + (int64_t)j * o + 16 * b);
            for (int k = 0; k < np; k++) {
                const __m512 xv = _mm512_set1_ps(xr[j + k * ps]);
                for (int b = 0; b < nb; b++) a[k * nb + b] = _mm512_fmadd_ps(xv, wv[b], a[k * nb + b]);
            }
        }
    }
    for (int k = 0; k < np; k++)
        for (int b = 0; b < nb; b++) {
            __m512 v = a[k * nb + b];
            if (p->relu) v = _mm512_max_ps(_mm512_setzero_ps(), v); /* NaN stays, as in np.maximum */
            _mm512_mask_storeu_ps(out + (int64_t)k * o + 16 * b, m[b], v);
        }
    if (slope) xnv_fc_prelu_avx512(out, slope, np, nb, o, m);
}

/* np pixels x all o channels, nbt blocks at a time (the rest: fewer blocks, the same np). */
XNV_FC512 XNV_FC_INLINE void xnv_fc_tile_avx512_n(const xnv_fconv_t *p, const float *x, const float *w,
                                                   float *out, int ndy, int nj, int np, int nbt) {
    const int o = p->o;
    for (int cb = 0; cb < o; cb += XNV_FC_BLK * nbt) {
        const int left = o - cb, nb = (left + XNV_FC_BLK - 1) / XNV_FC_BLK; /* blocks left */
        const float *bias = p->bias ? p->bias + cb : 0, *slope = p->slope ? p->slope + cb : 0;
        if (nb >= nbt) {
            const int nl = left - (nbt - 1) * XNV_FC_BLK;
            if (nl >= XNV_FC_BLK) /* a constant full mask: plain loads, no mask register in the loop */
                xnv_fc_block_avx512(p, x, w + cb, out + cb, ndy, nj, np, nbt, (__mmask16)0xFFFF, bias, slope);
            else
                xnv_fc_block_avx512(p, x, w + cb, out + cb, ndy, nj, np, nbt, (__mmask16)((1u << nl) - 1), bias, slope);
        } else {
            const __mmask16 ml = (__mmask16)((1u << (left - (nb - 1) * XNV_FC_BLK)) - 1);
            /* constants for the inlined block; nb < nbt, so the tests on nbt drop the shapes never run */
            if (nb == 1 || nbt <= 2)
                xnv_fc_block_avx512(p, x, w + cb, out + cb, ndy, nj, np, 1, ml, bias, slope);
            else if (nb == 2 || nbt <= 3)
                xnv_fc_block_avx512(p, x, w + cb, out + cb, ndy, nj, np, 2, ml, bias, slope);
            else
                xnv_fc_block_avx512(p, x, w + cb, out + cb, ndy, nj, np, 3, ml, bias, slope);
        }
    }
}

/* Tile shapes by blocks held at once: (blocks, pixels) = (4, 6), (3, 8), (2, 12), (1, 16). One block (a
 * 3x3 stem's 16 channels): 16 pixels rather than 8 took the faces stem from 0.30 to 0.27 ms (12: 0.29).
 * Rows with fewer interior pixels than that take tiles of half as many: otherwise every pixel went to the
 * 1-pixel code, whose few FMA chains wait on their latency (the faces classifier's grey stem: 32x32 crops,
 * 15 interior pixels a row). */
#define XNV_FC512_NP1 16
#define XNV_FC512_NP2 12
#define XNV_FC512_NP3 8
#define XNV_FC512_NP4 6
#define XNV_FC512_STEM_TAPS 9 /* kw * c of the stem tiles below */
#define XNV_FC512_SHAPE(NB, NP)                                                                                \
    XNV_FC512 static void xnv_fc_tile_avx512_##NB(const xnv_fconv_t *p, const float *x, const float *w,        \
                                                  float *out, int ndy, int nj) {                               \
        xnv_fc_tile_avx512_n(p, x, w, out, ndy, nj, NP, NB);                                                   \
    }                                                                                                          \
    XNV_FC512 static void xnv_fc_half_avx512_##NB(const xnv_fconv_t *p, const float *x, const float *w,        \
                                                  float *out, int ndy, int nj) {                               \
        xnv_fc_tile_avx512_n(p, x, w, out, ndy, nj, (NP) / 2, NB);                                             \
    }                                                                                                          \
    XNV_FC512 static void xnv_fc_one_avx512_##NB(const xnv_fconv_t *p, const float *x, const float *w,         \
                                                 float *out, int ndy, int nj) {                                \
        xnv_fc_tile_avx512_n(p, x, w, out, ndy, nj, 1, NB);                                                    \
    }
XNV_FC512_SHAPE(1, XNV_FC512_NP1)
XNV_FC512_SHAPE(2, XNV_FC512_NP2)
XNV_FC512_SHAPE(3, XNV_FC512_NP3)
XNV_FC512_SHAPE(4, XNV_FC512_NP4)

/* One block (O <= 16) x XNV_FC512_NP1 pixels of a small stem (kw, c, sw constants, kw > sw), the taps of a
 * row walked by input column: a column's value is broadcast once and goes to every pixel whose kernel
 * covers it (two of them for 3x3 stride 2), with the row's kw * c weight vectors held in registers. Each
 * pixel still sums its taps in (dx, c) order: the sums of xnv_fc_block_avx512, bit for bit. */
XNV_FC512 XNV_FC_INLINE void xnv_fc_stem_avx512(const xnv_fconv_t *p, const float *x, const float *w,
                                                 float *out, int ndy, int kw, int c, int sw, int NP) {
    const int64_t rs = (int64_t)p->w_in * c, ws = (int64_t)kw * c * p->o;
    const int o = p->o;
    const __mmask16 m = (__mmask16)((1u << o) - 1);
    const __m512 init = p->bias ? _mm512_maskz_loadu_ps(m, p->bias) : _mm512_setzero_ps();
    __m512 a[XNV_FC512_NP1];
    for (int k = 0; k < NP; k++) a[k] = init;
    for (int dy = 0; dy < ndy; dy++) {
        const float *xr = x + dy * rs, *wr = w + dy * ws;
        __m512 wv[XNV_FC512_STEM_TAPS];
#pragma GCC unroll 16
        for (int t = 0; t < kw * c; t++) wv[t] = _mm512_maskz_loadu_ps(m, wr + (int64_t)t * o);
#pragma GCC unroll 64
        for (int col = 0; col < (NP - 1) * sw + kw; col++)
#pragma GCC unroll 4
            for (int ch = 0; ch < c; ch++) {
                const __m512 xv = _mm512_set1_ps(xr[col * c + ch]);
#pragma GCC unroll 16
                for (int k = 0; k < NP; k++) {
                    const int dx = col - k * sw;
                    if (dx >= 0 && dx < kw) a[k] = _mm512_fmadd_ps(xv, wv[dx * c + ch], a[k]);
                }
            }
    }
    for (int k = 0; k < NP; k++) {
        __m512 v = a[k];
        if (p->relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);
        _mm512_mask_storeu_ps(out + (int64_t)k * o, m, v);
    }
    if (p->slope) xnv_fc_prelu_avx512(out, p->slope, NP, 1, o, &m);
}
#define XNV_FC512_STEM(KW, C, SW)                                                                              \
    XNV_FC512 static void xnv_fc_stem_avx512_##KW##C##SW(const xnv_fconv_t *p, const float *x, const float *w, \
                                                         float *out, int ndy, int nj) {                       \
        (void)nj; /* kw * c: a tile's taps are never clipped */                                               \
        xnv_fc_stem_avx512(p, x, w, out, ndy, KW, C, SW, XNV_FC512_NP1);                                       \
    }                                                                                                          \
    XNV_FC512 static void xnv_fc_stemhalf_avx512_##KW##C##SW(const xnv_fconv_t *p, const float *x,             \
                                                             const float *w, float *out, int ndy, int nj) {   \
        (void)nj;                                                                                              \
        xnv_fc_stem_avx512(p, x, w, out, ndy, KW, C, SW, XNV_FC512_NP1 / 2);                                   \
    }
XNV_FC512_STEM(3, 3, 2) /* an RGB image's 3x3 stride-2 stem (the faces proposal net) */
XNV_FC512_STEM(3, 1, 2) /* a grey one's (the faces classifier) */

/* _mm512_max_ps(s, acc) is s > acc ? s : acc (VMAXPS returns its second operand on NaN or two zeros). */
XNV_FC512 static void xnv_fc_pool_avx512(const float *a, const float *b, int wp, int o, float *out) {
    for (int px = 0; px < wp; px++) {
        const float *a0 = a + (int64_t)2 * px * o, *a1 = a0 + o, *b0 = b + (int64_t)2 * px * o, *b1 = b0 + o;
        float *op = out + (int64_t)px * o;
        for (int l = 0; l < o; l += XNV_FC_BLK) {
            const int nl = o - l < XNV_FC_BLK ? o - l : XNV_FC_BLK;
            const __mmask16 m = (__mmask16)((1u << nl) - 1);
            __m512 v = _mm512_maskz_loadu_ps(m, a0 + l);
            v = _mm512_max_ps(_mm512_maskz_loadu_ps(m, a1 + l), v);
            v = _mm512_max_ps(_mm512_maskz_loadu_ps(m, b0 + l), v);
            v = _mm512_max_ps(_mm512_maskz_loadu_ps(m, b1 + l), v);
            _mm512_mask_storeu_ps(op + l, m, v);
        }
    }
}

/* nb vectors of 16 channels from channel l of one pooled pixel: its window's columns [xa, xb) of rows[0 ..
 * nh), folded side by side (nb a constant after inlining: the vectors stay in registers). */
XNV_FC512 XNV_FC_INLINE void xnv_fc_pool3_vecs_avx512(const float *const *rows, int nh, int xa, int xb, int o,
                                                       int l, int nb, float *op) {
    __mmask16 m[XNV_FC512_MAXB];
    __m512 v[XNV_FC512_MAXB];
    for (int k = 0; k < nb; k++) {
        const int nl = o - l - k * XNV_FC_BLK;
        m[k] = nl < XNV_FC_BLK ? (__mmask16)((1u << nl) - 1) : (__mmask16)0xFFFF;
        v[k] = _mm512_maskz_loadu_ps(m[k], rows[0] + (int64_t)xa * o + l + k * XNV_FC_BLK);
    }
    for (int dy = 0; dy < nh; dy++)
        for (int x = dy ? xa : xa + 1; x < xb; x++) {
            const float *cell = rows[dy] + (int64_t)x * o + l;
            for (int k = 0; k < nb; k++)
                v[k] = _mm512_max_ps(_mm512_maskz_loadu_ps(m[k], cell + k * XNV_FC_BLK), v[k]);
        }
    for (int k = 0; k < nb; k++) _mm512_mask_storeu_ps(op + l + k * XNV_FC_BLK, m[k], v[k]);
}

/* The 3x3 stride-2 pool with padding 1 (xnv_fc_pool3_t), 16 channels a vector, the last one masked; up to
 * four vectors folded side by side, so that their dependent max chains overlap. */
XNV_FC512 static void xnv_fc_pool3_avx512(const float *const *rows, int nh, int wo, int o, float *out) {
    const int step = XNV_FC512_MAXB * XNV_FC_BLK;
    for (int px = 0; px < (wo + 1) / 2; px++) {
        const int xa = px > 0 ? 2 * px - 1 : 0, xb = 2 * px + 2 < wo ? 2 * px + 2 : wo;
        float *op = out + (int64_t)px * o;
        int l = 0;
        for (; l + step <= o; l += step) xnv_fc_pool3_vecs_avx512(rows, nh, xa, xb, o, l, XNV_FC512_MAXB, op);
        switch ((o - l + XNV_FC_BLK - 1) / XNV_FC_BLK) {
        case 3: xnv_fc_pool3_vecs_avx512(rows, nh, xa, xb, o, l, 3, op); break;
        case 2: xnv_fc_pool3_vecs_avx512(rows, nh, xa, xb, o, l, 2, op); break;
        case 1: xnv_fc_pool3_vecs_avx512(rows, nh, xa, xb, o, l, 1, op); break;
        default: break;
        }
    }
}

XNV_FC512 static int xnv_fconv_batch_avx512(const xnv_fconv_t *p, int64_t s0, int64_t s1, float *tmp) {
    switch ((p->o + XNV_FC_BLK - 1) / XNV_FC_BLK) {
    case 1: return xnv_fc_batch(p, s0, s1, tmp, xnv_fc_tile_avx512_1, XNV_FC512_NP1);
    case 2: return xnv_fc_batch(p, s0, s1, tmp, xnv_fc_tile_avx512_2, XNV_FC512_NP2);
    case 3: return xnv_fc_batch(p, s0, s1, tmp, xnv_fc_tile_avx512_3, XNV_FC512_NP3);
    default: return xnv_fc_batch(p, s0, s1, tmp, xnv_fc_tile_avx512_4, XNV_FC512_NP4);
    }
}

__attribute__((target("avx2,fma"))) static int xnv_fconv_rows_avx2(const xnv_fconv_t *p, int64_t r0, int64_t r1,
                                                                   float *scratch);

XNV_FC512 static int xnv_fconv_rows_avx512(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch) {
    if (p->wino) return xnv_fconv_rows_avx2(p, r0, r1, scratch); /* the same Winograd code and bits */
    switch ((p->o + XNV_FC_BLK - 1) / XNV_FC_BLK) {
    case 1:
        if (p->kw == 3 && p->c == 3 && p->sw == 2) /* faces stem 0.25 -> 0.19 ms (float input, 1 thread) */
            return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_stem_avx512_332, XNV_FC512_NP1,
                               xnv_fc_stemhalf_avx512_332, XNV_FC512_NP1 / 2, xnv_fc_one_avx512_1,
                               xnv_fc_pool_avx512, xnv_fc_pool3_avx512, 0, 0);
        if (p->kw == 3 && p->c == 1 && p->sw == 2)
            return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_stem_avx512_312, XNV_FC512_NP1,
                               xnv_fc_stemhalf_avx512_312, XNV_FC512_NP1 / 2, xnv_fc_one_avx512_1,
                               xnv_fc_pool_avx512, xnv_fc_pool3_avx512, 0, 0);
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx512_1, XNV_FC512_NP1, xnv_fc_half_avx512_1,
                           XNV_FC512_NP1 / 2, xnv_fc_one_avx512_1, xnv_fc_pool_avx512,
                           xnv_fc_pool3_avx512, 0, 0);
    case 2:
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx512_2, XNV_FC512_NP2, xnv_fc_half_avx512_2,
                           XNV_FC512_NP2 / 2, xnv_fc_one_avx512_2, xnv_fc_pool_avx512,
                           xnv_fc_pool3_avx512, 0, 0);
    case 3:
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx512_3, XNV_FC512_NP3, xnv_fc_half_avx512_3,
                           XNV_FC512_NP3 / 2, xnv_fc_one_avx512_3, xnv_fc_pool_avx512,
                           xnv_fc_pool3_avx512, 0, 0);
    default:
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx512_4, XNV_FC512_NP4, xnv_fc_half_avx512_4,
                           XNV_FC512_NP4 / 2, xnv_fc_one_avx512_4, xnv_fc_pool_avx512,
                           xnv_fc_pool3_avx512, 0, 0);
    }
}

#define XNV_FC256 __attribute__((target("avx2,fma")))
/* 6 pixels x 2 ymm: 12 accumulators, 2 weights and a broadcast of the 16 registers (4 pixels: ResNet-18's
 * 7x7 stem 2.43 -> 2.16 ms, the faces stem 0.335 -> 0.30 ms on float input, 1 thread) */
#define XNV_FC256_TILE 6

/* A sum's activation: ReLU (NaN stays), then PReLU v * a where v < 0 (as kernels.prelu) when slope. */
XNV_FC256 XNV_FC_INLINE __m256 xnv_fc_act_avx2(const xnv_fconv_t *p, __m256 v, int slope, __m256 a) {
    if (p->relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
    if (slope) v = _mm256_blendv_ps(v, _mm256_mul_ps(v, a), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    return v;
}

/* np pixels x one block of 16 channels as two ymm halves; `full` (a constant after inlining) picks plain
 * loads and stores, else the lanes past o are masked (vmaskmov: no read or write past the arrays). A stem's
 * tile passes constants: kc taps a row (its loop unrolled), ko outputs, and kh tap rows (that loop unrolled
 * too) or 0 (ndy of them). Unrolled, the faces stem (3x3x3 -> 16) took 0.87-0.88x its time and
 * ResNet-18's (7x7x3 -> 64) 0.95x (1 thread, float input, alternating with the loops in one process): the
 * short loops' steps and address arithmetic were a large part of a 27-tap tile. The sums are the same. */
XNV_FC256 XNV_FC_INLINE void xnv_fc_block_avx2(const xnv_fconv_t *p, const float *x, const float *w,
                                                float *out, int ndy, int nj, int np, int full, int nl,
                                                const float *bias, const float *slope, int kc, int ko, int kh) {
    const int o = kc ? ko : p->o;
    const int64_t ps = p->ps, rs = (int64_t)p->w_in * p->c, ws = kc ? (int64_t)kc * ko : (int64_t)p->kw * p->c * o;
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
#define XNV_FC256_STEP(J, X)                                                                                   \
    do {                                                                                                       \
        const float *wp = wr + (int64_t)(J) * o;                                                               \
        const __m256 w0 = full ? _mm256_loadu_ps(wp) : _mm256_maskload_ps(wp, m0);                             \
        const __m256 w1 = full ? _mm256_loadu_ps(wp + 8) : _mm256_maskload_ps(wp + 8, m1);                     \
        for (int k = 0; k < np; k++) {                                                                         \
            const __m256 xv = _mm256_broadcast_ss(X);                                                          \
            a0[k] = _mm256_fmadd_ps(xv, w0, a0[k]);                                                            \
            a1[k] = _mm256_fmadd_ps(xv, w1, a1[k]);                                                            \
        }                                                                                                      \
    } while (0)
    if (kc) { /* each pixel's own pointer: gcc kept j + k * ps of every step in spilled registers */
        const float *px[XNV_FC256_TILE];
        for (int k = 0; k < np; k++) px[k] = x + k * ps;
        if (kh) {
#pragma GCC unroll 3
            for (int dy = 0; dy < kh; dy++) {
                const float *wr = w + dy * ws;
#pragma GCC unroll 32
                for (int j = 0; j < kc; j++) XNV_FC256_STEP(j, px[k] + dy * rs + j);
            }
        } else {
            for (int dy = 0; dy < ndy; dy++) {
                const float *wr = w + dy * ws;
#pragma GCC unroll 32
                for (int j = 0; j < kc; j++) XNV_FC256_STEP(j, px[k] + dy * rs + j);
            }
        }
    } else {
        for (int dy = 0; dy < ndy; dy++) {
            const float *xr = x + dy * rs, *wr = w + dy * ws;
            for (int j = 0; j < nj; j++) XNV_FC256_STEP(j, xr + j + k * ps);
        }
    }
#undef XNV_FC256_STEP
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    if (slope) {
        s0 = full ? _mm256_loadu_ps(slope) : _mm256_maskload_ps(slope, m0);
        s1 = full ? _mm256_loadu_ps(slope + 8) : _mm256_maskload_ps(slope + 8, m1);
    }
    for (int k = 0; k < np; k++) {
        a0[k] = xnv_fc_act_avx2(p, a0[k], slope != 0, s0);
        a1[k] = xnv_fc_act_avx2(p, a1[k], slope != 0, s1);
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
        const float *bias = p->bias ? p->bias + cb : 0, *slope = p->slope ? p->slope + cb : 0;
        if (p->o - cb >= XNV_FC_BLK)
            xnv_fc_block_avx2(p, x, w + cb, out + cb, ndy, nj, np, 1, XNV_FC_BLK, bias, slope, 0, 0, 0);
        else
            xnv_fc_block_avx2(p, x, w + cb, out + cb, ndy, nj, np, 0, p->o - cb, bias, slope, 0, 0, 0);
    }
}

XNV_FC256 static void xnv_fc_tile_avx2(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                       int ndy, int nj) {
    xnv_fc_tile_avx2_n(p, x, w, out, ndy, nj, XNV_FC256_TILE);
}

/* The last 3 or fewer interior pixels of a row: half a tile, where a whole one overlapping the tile before
 * recomputed 3 more (the faces net's BWN conv: 51 interior pixels a row). */
XNV_FC256 static void xnv_fc_half_avx2(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                       int ndy, int nj) {
    xnv_fc_tile_avx2_n(p, x, w, out, ndy, nj, XNV_FC256_TILE / 2);
}

/* A 3x3 stem's tile (C input channels, 16 outputs): unrolled where all 3 tap rows are in the image. */
#define XNV_FC256_STEM(C)                                                                                      \
    XNV_FC256 static void xnv_fc_stem_avx2_3##C(const xnv_fconv_t *p, const float *x, const float *w,           \
                                                float *out, int ndy, int nj) {                                  \
        if (ndy == 3)                                                                                          \
            xnv_fc_block_avx2(p, x, w, out, 3, 3 * (C), XNV_FC256_TILE, 1, XNV_FC_BLK, p->bias, p->slope,       \
                              3 * (C), XNV_FC_BLK, 3);                                                         \
        else                                                                                                   \
            xnv_fc_tile_avx2_n(p, x, w, out, ndy, nj, XNV_FC256_TILE);                                          \
    }
XNV_FC256_STEM(3) /* an RGB image's (the faces proposal net) */
XNV_FC256_STEM(1) /* a grey one's (the faces classifier) */

/* A 3x3 stem's pooled pixel (xnv_fc_ptile_t; C input channels, 16 outputs, a fused 2x2 pool): its 4 conv
 * pixels summed as the stem's tile sums each (the bias, then the taps in (dy, dx, c) order, one fused
 * multiply-add each), activated, then folded as xnv_fc_pool_avx2 folds them (row-major, the later cell
 * first in each max): the same bits, without writing the conv pixels to a buffer and reading them back. */
XNV_FC256 XNV_FC_INLINE void xnv_fc_stem_pooled_avx2_n(const xnv_fconv_t *p, const float *x0, const float *x1,
                                                        const float *w, float *out, int C) {
    const int64_t ps = p->ps, rs = (int64_t)p->w_in * C;
    const __m256 b0 = p->bias ? _mm256_loadu_ps(p->bias) : _mm256_setzero_ps();
    const __m256 b1 = p->bias ? _mm256_loadu_ps(p->bias + 8) : _mm256_setzero_ps();
    const float *px[4] = {x0, x0 + ps, x1, x1 + ps}; /* row-major: the pool's order */
    __m256 a0[4], a1[4];
    for (int k = 0; k < 4; k++) {
        a0[k] = b0;
        a1[k] = b1;
    }
#pragma GCC unroll 3
    for (int dy = 0; dy < 3; dy++) {
        const float *wr = w + dy * 3 * C * XNV_FC_BLK;
#pragma GCC unroll 9
        for (int j = 0; j < 3 * C; j++) {
            const __m256 w0 = _mm256_loadu_ps(wr + j * XNV_FC_BLK), w1 = _mm256_loadu_ps(wr + j * XNV_FC_BLK + 8);
            for (int k = 0; k < 4; k++) {
                const __m256 xv = _mm256_broadcast_ss(px[k] + dy * rs + j);
                a0[k] = _mm256_fmadd_ps(xv, w0, a0[k]);
                a1[k] = _mm256_fmadd_ps(xv, w1, a1[k]);
            }
        }
    }
    const __m256 s0 = p->slope ? _mm256_loadu_ps(p->slope) : _mm256_setzero_ps();
    const __m256 s1 = p->slope ? _mm256_loadu_ps(p->slope + 8) : _mm256_setzero_ps();
    __m256 v0 = xnv_fc_act_avx2(p, a0[0], p->slope != 0, s0), v1 = xnv_fc_act_avx2(p, a1[0], p->slope != 0, s1);
    for (int k = 1; k < 4; k++) {
        v0 = _mm256_max_ps(xnv_fc_act_avx2(p, a0[k], p->slope != 0, s0), v0);
        v1 = _mm256_max_ps(xnv_fc_act_avx2(p, a1[k], p->slope != 0, s1), v1);
    }
    _mm256_storeu_ps(out, v0);
    _mm256_storeu_ps(out + 8, v1);
}

XNV_FC256 static void xnv_fc_stem_pooled_avx2_3(const xnv_fconv_t *p, const float *x0, const float *x1,
                                                const float *w, float *out) {
    xnv_fc_stem_pooled_avx2_n(p, x0, x1, w, out, 3);
}

XNV_FC256 static void xnv_fc_stem_pooled_avx2_1(const xnv_fconv_t *p, const float *x0, const float *x1,
                                                const float *w, float *out) {
    xnv_fc_stem_pooled_avx2_n(p, x0, x1, w, out, 1);
}

/* ResNet's 7x7 x 3-channel stem with 64 outputs: its 4 blocks, 21 taps a row unrolled, any tap rows. */
XNV_FC256 static void xnv_fc_stem_avx2_73(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                          int ndy, int nj) {
    for (int cb = 0; cb < 64; cb += XNV_FC_BLK)
        xnv_fc_block_avx2(p, x, w + cb, out + cb, ndy, nj, XNV_FC256_TILE, 1, XNV_FC_BLK, p->bias ? p->bias + cb : 0,
                          p->slope ? p->slope + cb : 0, 21, 64, 0);
}

/* One pixel (the edges of a row) x nv vectors of 8 channels, o = 8 * nv: nv FMA chains at once, where a
 * block at a time ran 2 and waited on their latency (a BWN conv's 64 channels: 8 chains). The sums are the
 * tile's. */
XNV_FC256 XNV_FC_INLINE void xnv_fc_px_avx2(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                             int ndy, int nj, int nv) {
    const int64_t rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * p->o;
    __m256 a[8];
    for (int v = 0; v < nv; v++) a[v] = p->bias ? _mm256_loadu_ps(p->bias + 8 * v) : _mm256_setzero_ps();
    for (int dy = 0; dy < ndy; dy++) {
        const float *xr = x + dy * rs, *wr = w + dy * ws;
        for (int j = 0; j < nj; j++) {
            const __m256 xv = _mm256_broadcast_ss(xr + j);
            for (int v = 0; v < nv; v++) a[v] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wr + (int64_t)j * p->o + 8 * v), a[v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        const __m256 s = p->slope ? _mm256_loadu_ps(p->slope + 8 * v) : _mm256_setzero_ps();
        _mm256_storeu_ps(out + 8 * v, xnv_fc_act_avx2(p, a[v], p->slope != 0, s));
    }
}

XNV_FC256 static void xnv_fc_one_avx2(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                      int ndy, int nj) {
    switch (p->o) {
    case 64: xnv_fc_px_avx2(p, x, w, out, ndy, nj, 8); break;
    case 48: xnv_fc_px_avx2(p, x, w, out, ndy, nj, 6); break;
    case 32: xnv_fc_px_avx2(p, x, w, out, ndy, nj, 4); break;
    default: xnv_fc_tile_avx2_n(p, x, w, out, ndy, nj, 1); break;
    }
}

/* A conv of few outputs (o <= 8: a detector's 1x1 heads, 64 or 128 -> 5) as 8 pixels in the lanes of one
 * ymm a channel: 8 taps of the 8 pixels load as rows and transpose, then each tap multiplies into every
 * channel's vector. A block of 16 channels wasted 11 of its 16 lanes on 5 outputs (0.07 ms of the faces
 * net's 40x52 head, 1 thread). Same sums as the block: the bias, then the taps in (dy, dx, c) order, one
 * fused multiply-add each. */
XNV_FC256 XNV_FC_INLINE void xnv_fc_few_avx2_n(const xnv_fconv_t *p, const float *x, const float *w, float *out,
                                                int ndy, int nj, int o) {
    const int64_t ps = p->ps, rs = (int64_t)p->w_in * p->c, ws = (int64_t)p->kw * p->c * o;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    xnv_v8 a[8];
    for (int q = 0; q < o; q++) a[q] = (xnv_v8)(p->bias ? _mm256_broadcast_ss(p->bias + q) : _mm256_setzero_ps());
    for (int dy = 0; dy < ndy; dy++) {
        const float *xr = x + dy * rs, *wr = w + dy * ws;
        int j0 = 0;
        for (; j0 + 8 <= nj; j0 += 8) {
            xnv_v8 r[8];
            for (int i = 0; i < 8; i++) r[i] = (xnv_v8)_mm256_loadu_ps(xr + i * ps + j0);
            xnv_v8_transpose(r);
            const float *wj = wr + (int64_t)j0 * o;
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                for (int q = 0; q < o; q++)
                    a[q] = (xnv_v8)_mm256_fmadd_ps((__m256)r[j], _mm256_broadcast_ss(wj + j * o + q), (__m256)a[q]);
        }
        if (j0 < nj) { /* the last taps of the row, masked */
            const int nl = nj - j0;
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nl), lane);
            xnv_v8 r[8];
            for (int i = 0; i < 8; i++) r[i] = (xnv_v8)_mm256_maskload_ps(xr + i * ps + j0, m);
            xnv_v8_transpose(r);
            const float *wj = wr + (int64_t)j0 * o;
            for (int j = 0; j < nl; j++)
                for (int q = 0; q < o; q++)
                    a[q] = (xnv_v8)_mm256_fmadd_ps((__m256)r[j], _mm256_broadcast_ss(wj + j * o + q), (__m256)a[q]);
        }
    }
    for (int q = 0; q < 8; q++)
        a[q] = (xnv_v8)(q >= o ? _mm256_setzero_ps()
                               : xnv_fc_act_avx2(p, (__m256)a[q], p->slope != 0,
                                                 p->slope ? _mm256_broadcast_ss(p->slope + q) : _mm256_setzero_ps()));
    xnv_v8_transpose(a);
    /* whole-vector stores where they end inside the tile's 8 * o floats (the lanes past o are overwritten by
     * the next pixels' stores), masked ones after that */
    const __m256i mo = _mm256_cmpgt_epi32(_mm256_set1_epi32(o), lane);
    for (int i = 0; i < 8; i++) {
        if (i * o + 8 <= 8 * o)
            _mm256_storeu_ps(out + (int64_t)i * o, (__m256)a[i]);
        else
            _mm256_maskstore_ps(out + (int64_t)i * o, mo, (__m256)a[i]);
    }
}

#define XNV_FC256_FEW(O)                                                                                       \
    XNV_FC256 static void xnv_fc_few_avx2_##O(const xnv_fconv_t *p, const float *x, const float *w, float *out, \
                                              int ndy, int nj) {                                                \
        xnv_fc_few_avx2_n(p, x, w, out, ndy, nj, O);                                                           \
    }
XNV_FC256_FEW(1)
XNV_FC256_FEW(2)
XNV_FC256_FEW(3)
XNV_FC256_FEW(4)
XNV_FC256_FEW(5)
XNV_FC256_FEW(6)
XNV_FC256_FEW(7)
XNV_FC256_FEW(8)

/* 8 channels a ymm (_mm256_max_ps(s, acc): s > acc ? s : acc); the last < 8 masked (vmaskmov). */
XNV_FC256 static void xnv_fc_pool_avx2(const float *a, const float *b, int wp, int o, float *out) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(o % 8), lane);
    const int full = o / 8 * 8;
    for (int px = 0; px < wp; px++) {
        const float *a0 = a + (int64_t)2 * px * o, *a1 = a0 + o, *b0 = b + (int64_t)2 * px * o, *b1 = b0 + o;
        float *op = out + (int64_t)px * o;
        for (int l = 0; l < full; l += 8) {
            __m256 v = _mm256_loadu_ps(a0 + l);
            v = _mm256_max_ps(_mm256_loadu_ps(a1 + l), v);
            v = _mm256_max_ps(_mm256_loadu_ps(b0 + l), v);
            v = _mm256_max_ps(_mm256_loadu_ps(b1 + l), v);
            _mm256_storeu_ps(op + l, v);
        }
        if (full < o) {
            __m256 v = _mm256_maskload_ps(a0 + full, m);
            v = _mm256_max_ps(_mm256_maskload_ps(a1 + full, m), v);
            v = _mm256_max_ps(_mm256_maskload_ps(b0 + full, m), v);
            v = _mm256_max_ps(_mm256_maskload_ps(b1 + full, m), v);
            _mm256_maskstore_ps(op + full, m, v);
        }
    }
}

/* nb vectors of 8 channels from channel l of one pooled pixel (xnv_fc_pool3_vecs_avx512 on 8 lanes; `full`,
 * a constant after inlining, says all 8 * nb lanes are below o, else the lanes past o are masked): the
 * vectors' max chains overlap, where the portable pool ran one 4-float chain at a time (ResNet-18's stem
 * pool: 0.42 ms of a 1-thread run). Whole vectors take plain loads: masked ones cost more on AMD. */
XNV_FC256 XNV_FC_INLINE void xnv_fc_pool3_vecs_avx2(const float *const *rows, int nh, int xa, int xb, int o, int l,
                                                     int nb, int full, float *op) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m[4];
    __m256 v[4];
#define XNV_FC256_LOAD(ptr, k) (full ? _mm256_loadu_ps(ptr) : _mm256_maskload_ps((ptr), m[k]))
    for (int k = 0; k < nb; k++) {
        m[k] = _mm256_cmpgt_epi32(_mm256_set1_epi32(o - l - 8 * k), lane);
        v[k] = XNV_FC256_LOAD(rows[0] + (int64_t)xa * o + l + 8 * k, k);
    }
    for (int dy = 0; dy < nh; dy++)
        for (int x = dy ? xa : xa + 1; x < xb; x++) {
            const float *cell = rows[dy] + (int64_t)x * o + l;
            for (int k = 0; k < nb; k++) v[k] = _mm256_max_ps(XNV_FC256_LOAD(cell + 8 * k, k), v[k]);
        }
#undef XNV_FC256_LOAD
    for (int k = 0; k < nb; k++) {
        if (full)
            _mm256_storeu_ps(op + l + 8 * k, v[k]);
        else
            _mm256_maskstore_ps(op + l + 8 * k, m[k], v[k]);
    }
}

XNV_FC256 static void xnv_fc_pool3_avx2(const float *const *rows, int nh, int wo, int o, float *out) {
    for (int px = 0; px < (wo + 1) / 2; px++) {
        const int xa = px > 0 ? 2 * px - 1 : 0, xb = 2 * px + 2 < wo ? 2 * px + 2 : wo;
        float *op = out + (int64_t)px * o;
        int l = 0;
        for (; l + 32 <= o; l += 32) xnv_fc_pool3_vecs_avx2(rows, nh, xa, xb, o, l, 4, 1, op);
        switch ((o - l + 7) / 8) {
        case 3: xnv_fc_pool3_vecs_avx2(rows, nh, xa, xb, o, l, 3, 0, op); break;
        case 2: xnv_fc_pool3_vecs_avx2(rows, nh, xa, xb, o, l, 2, 0, op); break;
        case 1: xnv_fc_pool3_vecs_avx2(rows, nh, xa, xb, o, l, 1, 0, op); break;
        default: break;
        }
    }
}

XNV_FC256 static int xnv_fconv_batch_avx2(const xnv_fconv_t *p, int64_t s0, int64_t s1, float *tmp) {
    return xnv_fc_batch(p, s0, s1, tmp, xnv_fc_tile_avx2, XNV_FC256_TILE);
}

#include "xnv_fc_wino.h"

XNV_FC256 static int xnv_fconv_rows_avx2(const xnv_fconv_t *p, int64_t r0, int64_t r1, float *scratch) {
    if (p->wino)
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx2, XNV_FC256_TILE, 0, 0, xnv_fc_one_avx2,
                           xnv_fc_pool_avx2, xnv_fc_pool3_avx2, xnv_wg_pair_avx2, 0);
    if (p->kw == 3 && p->c == 3 && p->o == XNV_FC_BLK)
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_stem_avx2_33, XNV_FC256_TILE, xnv_fc_half_avx2,
                           XNV_FC256_TILE / 2, xnv_fc_one_avx2, xnv_fc_pool_avx2, xnv_fc_pool3_avx2, 0,
                           p->pool == 2 && p->kh == 3 ? xnv_fc_stem_pooled_avx2_3 : 0);
    if (p->kw == 7 && p->c == 3 && p->o == 64)
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_stem_avx2_73, XNV_FC256_TILE, xnv_fc_half_avx2,
                           XNV_FC256_TILE / 2, xnv_fc_one_avx2, xnv_fc_pool_avx2, xnv_fc_pool3_avx2, 0, 0);
    if (p->kw == 3 && p->c == 1 && p->o == XNV_FC_BLK)
        return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_stem_avx2_31, XNV_FC256_TILE, xnv_fc_half_avx2,
                           XNV_FC256_TILE / 2, xnv_fc_one_avx2, xnv_fc_pool_avx2, xnv_fc_pool3_avx2, 0,
                           p->pool == 2 && p->kh == 3 ? xnv_fc_stem_pooled_avx2_1 : 0);
    if (p->o <= 8 && p->kw * p->c >= 8) { /* few outputs: 8 pixels in the lanes */
        static const xnv_fc_tile_t few[8] = {xnv_fc_few_avx2_1, xnv_fc_few_avx2_2, xnv_fc_few_avx2_3,
                                             xnv_fc_few_avx2_4, xnv_fc_few_avx2_5, xnv_fc_few_avx2_6,
                                             xnv_fc_few_avx2_7, xnv_fc_few_avx2_8};
        return xnv_fc_rows(p, r0, r1, scratch, few[p->o - 1], 8, 0, 0, xnv_fc_one_avx2, xnv_fc_pool_avx2,
                           xnv_fc_pool3_avx2, 0, 0);
    }
    return xnv_fc_rows(p, r0, r1, scratch, xnv_fc_tile_avx2, XNV_FC256_TILE, xnv_fc_half_avx2, XNV_FC256_TILE / 2,
                       xnv_fc_one_avx2, xnv_fc_pool_avx2, xnv_fc_pool3_avx2, 0, 0);
}
#endif /* x86 */

#if defined(__x86_64__)
/* The first whole 8-pixel blocks of npx uint8 pixels at src -> floats at dst (xnv_fc_u8v_t): how many
 * pixels it converted (the rest go through the table). */
XNV_FC256 XNV_FC_INLINE int xnv_fc_u8_vec_avx2_n(const xnv_fconv_t *p, const uint8_t *src, float *dst, int npx,
                                                 int c, int cx) {
    const xnv_fc_u8v_t *v = p->u8v;
    __m128i mask[XNV_FC_U8V_MAXC];
    __m256 scale[XNV_FC_U8V_MAXC], shift[XNV_FC_U8V_MAXC];
    int base[XNV_FC_U8V_MAXC];
    for (int g = 0; g < c; g++) { /* in registers: the stores below could alias v for all the compiler knows */
        mask[g] = _mm_loadu_si128((const __m128i *)v->mask[g]);
        scale[g] = _mm256_loadu_ps(v->scale[g]);
        shift[g] = _mm256_loadu_ps(v->shift[g]);
        base[g] = v->base[g];
    }
    const int wide = v->wide;
    int px = 0;
    for (; px + 8 <= npx; px += 8, src += 8 * cx, dst += 8 * c)
        for (int g = 0; g < c; g++) {
            const uint8_t *s = src + base[g];
            __m128i b = wide ? _mm_loadu_si128((const __m128i *)s) : _mm_loadl_epi64((const __m128i *)s);
            const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, mask[g])));
            _mm256_storeu_ps(dst + 8 * g, _mm256_add_ps(_mm256_mul_ps(f, scale[g]), shift[g]));
        }
    return px;
}

XNV_FC256 static int xnv_fc_u8_vec_avx2(const xnv_fconv_t *p, const uint8_t *src, float *dst, int npx) {
    if (p->c == 3 && p->cx == 3) return xnv_fc_u8_vec_avx2_n(p, src, dst, npx, 3, 3); /* RGB or BGR */
    if (p->c == 1 && p->cx == 1) return xnv_fc_u8_vec_avx2_n(p, src, dst, npx, 1, 1); /* grey */
    return xnv_fc_u8_vec_avx2_n(p, src, dst, npx, p->c, p->cx);
}
#endif

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

/* Whether the float convolution on this path sums with fused multiply-adds: AVX-512, AVX2 (which needs
 * FMA here) and AArch64's portable code (vfmaq) do, in the same (dy, dx, c) order per output, so their
 * results agree bit for bit; x86's portable code (SSE2: multiply, then add) rounds twice. */
static int xnv_fconv_fused(int path) {
#if defined(__aarch64__)
    (void)path;
    return 1;
#else
    return xnv_fconv_path(path) != XNV_PATH_PORTABLE;
#endif
}

/* Whether a conv runs by Winograd's algorithm (xnv_fc_wino.h) on the path: AVX2 or AVX-512 (both run the
 * 8-lane code, so both give the same bits; on Zen 4, whose 512-bit FMAs are two 256-bit halves, it took
 * ResNet's stem from 2.23 to 1.36-1.38 ms where the 16-lane direct tiles ran it, measured before the float
 * kernels took AVX2's path there; on full-width 512-bit FMAs, unmeasured), a 7x7 stride-2 kernel, at
 * most 4 input channels (the ring's rows stay small), whole blocks of 16 outputs, and padding ph < kh. Any
 * pool, and never batched tiles: a fused pool and every batch must see the unfused conv's bits. */
static int xnv_wg_fits(const xnv_fconv_t *p, int path) {
    const int x86 = xnv_fconv_path(path) == XNV_PATH_AVX2 || xnv_fconv_path(path) == XNV_PATH_AVX512;
    return x86 && p->kh == 7 && p->kw == 7 && p->sh == 2 && p->sw == 2 &&
           p->c <= 4 && p->o % XNV_FC_BLK == 0 && p->ph < p->kh;
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

/* Pixels of one tile on the path's kernel for o output channels (as xnv_fconv_rows picks its tiles). */
static int xnv_fc_tile_pixels(int path, int o) {
#if defined(__x86_64__) || defined(__i386__)
    static const int avx512[4] = {XNV_FC512_NP1, XNV_FC512_NP2, XNV_FC512_NP3, XNV_FC512_NP4};
    const int nb = (o + XNV_FC_BLK - 1) / XNV_FC_BLK;
    switch (xnv_fconv_path(path)) {
    case XNV_PATH_AVX512: return avx512[nb < 4 ? nb - 1 : 3];
    case XNV_PATH_AVX2: return XNV_FC256_TILE;
    default: break;
    }
#endif
    (void)path;
    (void)o;
    return XNV_FC_PORT_TILE;
}

/* Whether a call runs batched tiles (xnv_fconv_batch) rather than rows: float input, no pool, at least a
 * tile of images, and rows whose 1-pixel edges (or whole rows, when the interior is shorter than a tile)
 * are more than an eighth of the pixels. Rows of wide images keep their tiles (and their input in cache). */
static int xnv_fconv_batched(const xnv_fconv_t *p, int path) {
    const int np = xnv_fc_tile_pixels(path, p->o);
    if (p->x8 || p->pool || p->n < np || xnv_wg_fits(p, path)) return 0; /* Winograd's bits: rows only */
    int lo, hi;
    xnv_fc_interior(p, p->wo, &lo, &hi);
    const int interior = hi - lo, single = interior >= np ? p->wo - interior : p->wo;
    return 8 * single > p->wo;
}

static xnv_fconv_rows_t xnv_fconv_batch(int path) {
#if defined(__x86_64__) || defined(__i386__)
    switch (xnv_fconv_path(path)) {
    case XNV_PATH_AVX512: return xnv_fconv_batch_avx512;
    case XNV_PATH_AVX2: return xnv_fconv_batch_avx2;
    default: break;
    }
#endif
    (void)path;
    return xnv_fconv_batch_portable;
}

/* ------------------------------------------------------------------------------------------ dense layer */
/* y[r][o] = bias[o] + sum_k x[r][k] * w[k][o] for each row r of a linear layer's batch: the bias, then the
 * terms in k order, one fused multiply-add each, as the direct conv sums a 1x1 conv; so every path with FMA
 * (AVX-512, AVX2 + FMA, AArch64) gives the same bits. Weights come in panels of 16 outputs (the last padded
 * with zeros), 8 panels a group (the last group holds the rest), a group stored [k][panel][16]: one
 * contiguous stream, each weight read once a row, 8 independent FMA chains. (Eight panels stored apart,
 * 32 KB from each other, read at 40% of the speed: eight streams in the same cache sets.) Weights may be
 * int8 with one scale per output (wq, scale): each is then fl(q * s), the float32 value the file's loader
 * made of it, computed the same way, at a quarter of the memory traffic. */
#define XNV_DN_LANES 16
#define XNV_DN_GROUP 8
typedef struct {
    const float *x;     /* [rows][k] */
    const float *wf;    /* float panels, or NULL */
    const int8_t *wq;   /* int8 panels, or NULL */
    const float *scale; /* with wq: [panels * 16] */
    const float *bias;  /* [panels * 16], or NULL */
    float *out;         /* [rows][o] */
    int64_t rows, k;
    int o, panels;
} xnv_dense_t;
/* panels [p0, p1) of every row; p0 and p1 are multiples of XNV_DN_GROUP (or p1 = panels) */
typedef void (*xnv_dense_fn)(const xnv_dense_t *d, int p0, int p1);

/* The group that panel p starts: its size, and the offset of its weights (values). */
static inline int xnv_dn_group(const xnv_dense_t *d, int p, int64_t *off) {
    *off = (int64_t)p * d->k * XNV_DN_LANES;
    return d->panels - p < XNV_DN_GROUP ? d->panels - p : XNV_DN_GROUP;
}

/* Sixteen int8 weights a panel row, g panels a row of the group. */
#define XNV_DN_AT(d, off, g, k, j) ((off) + ((int64_t)(k) * (g) + (j)) * XNV_DN_LANES)

/* A dense kernel's plan for a group of g panels: rows a pass (nr) and panels a pass (m), so that nr * m * v
 * accumulators fill the 8 vectors given to them (v: vectors a panel) and several rows share the group's
 * weight loads when the group is narrow (a detector's head: 5 outputs, one panel, 8 rows a pass). */
static inline int xnv_dn_rows(int g, int v) {
    const int per_row = g * v < 8 ? g * v : 8;
    return 8 / per_row;
}

#if defined(__x86_64__) || defined(__i386__)
/* Rows [r, r + nr) x panels [p + j0, p + j0 + m) of the group at panel p (g panels); nr and m constants
 * after inlining (nr * m <= 8). */
XNV_FC512 XNV_FC_INLINE void xnv_dn_pass_avx512(const xnv_dense_t *d, int64_t r, int nr, int p, int g,
                                                 int64_t off, int j0, int m) {
    __m512 acc[8];
    for (int j = 0; j < m; j++) {
        const __m512 b = d->bias ? _mm512_loadu_ps(d->bias + (int64_t)(p + j0 + j) * XNV_DN_LANES) : _mm512_setzero_ps();
        for (int i = 0; i < nr; i++) acc[i * m + j] = b;
    }
    const float *sc = d->wq ? d->scale + (int64_t)(p + j0) * XNV_DN_LANES : 0;
    for (int64_t k = 0; k < d->k; k++) {
        __m512 wv[8];
        for (int j = 0; j < m; j++) {
            const int64_t at = XNV_DN_AT(d, off, g, k, j0 + j);
            if (d->wq)
                wv[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(d->wq + at)))),
                                      _mm512_loadu_ps(sc + j * XNV_DN_LANES));
            else
                wv[j] = _mm512_loadu_ps(d->wf + at);
        }
        for (int i = 0; i < nr; i++) {
            const __m512 xv = _mm512_set1_ps(d->x[(r + i) * d->k + k]);
            for (int j = 0; j < m; j++) acc[i * m + j] = _mm512_fmadd_ps(xv, wv[j], acc[i * m + j]);
        }
    }
    for (int i = 0; i < nr; i++) {
        float *out = d->out + (r + i) * d->o;
        for (int j = 0; j < m; j++) {
            const int o0 = (p + j0 + j) * XNV_DN_LANES, n = d->o - o0 < XNV_DN_LANES ? d->o - o0 : XNV_DN_LANES;
            _mm512_mask_storeu_ps(out + o0, (__mmask16)((1u << n) - 1), acc[i * m + j]);
        }
    }
}

#define XNV_DN_512(NR, M) xnv_dn_pass_avx512(d, r, NR, p, g, off, 0, M)
XNV_FC512 static void xnv_dense_avx512(const xnv_dense_t *d, int p0, int p1) {
    for (int p = p0; p < p1; p += XNV_DN_GROUP) {
        int64_t off;
        const int g = xnv_dn_group(d, p, &off), nr = xnv_dn_rows(g, 1);
        int64_t r = 0;
        for (; r + nr <= d->rows && nr > 1; r += nr) /* narrow groups: several rows a pass */
            switch (g) {
            case 4: XNV_DN_512(2, 4); break;
            case 3: XNV_DN_512(2, 3); break;
            case 2: XNV_DN_512(4, 2); break;
            default: XNV_DN_512(8, 1); break;
            }
        for (; r < d->rows; r++)
            switch (g) { /* one row a pass: a constant count of accumulators */
            case 8: XNV_DN_512(1, 8); break;
            case 7: XNV_DN_512(1, 7); break;
            case 6: XNV_DN_512(1, 6); break;
            case 5: XNV_DN_512(1, 5); break;
            case 4: XNV_DN_512(1, 4); break;
            case 3: XNV_DN_512(1, 3); break;
            case 2: XNV_DN_512(1, 2); break;
            default: XNV_DN_512(1, 1); break;
            }
    }
}
#undef XNV_DN_512

/* AVX2: a panel is two halves of 8; rows [r, r + nr) x the first nv halves of panels [p + j0, ...), nr * nv
 * <= 12: nv = 2 * m for m whole panels, or 1 for the first half of one (a panel of 8 outputs or fewer, a
 * detector's head: its other half is padding). */
XNV_FC256 XNV_FC_INLINE void xnv_dn_pass_avx2(const xnv_dense_t *d, int64_t r, int nr, int p, int g, int64_t off,
                                               int j0, int nv) {
    __m256 acc[12];
    const int64_t o0 = (int64_t)(p + j0) * XNV_DN_LANES;
    for (int h = 0; h < nv; h++) {
        const __m256 b = d->bias ? _mm256_loadu_ps(d->bias + o0 + 8 * h) : _mm256_setzero_ps();
        for (int i = 0; i < nr; i++) acc[i * nv + h] = b;
    }
    for (int64_t k = 0; k < d->k; k++) {
        __m256 wv[8];
        for (int h = 0; h < nv; h++) {
            const int64_t at = XNV_DN_AT(d, off, g, k, j0 + h / 2) + 8 * (h % 2);
            if (d->wq)
                wv[h] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(d->wq + at)))),
                                      _mm256_loadu_ps(d->scale + o0 + 8 * h));
            else
                wv[h] = _mm256_loadu_ps(d->wf + at);
        }
        for (int i = 0; i < nr; i++) {
            const __m256 xv = _mm256_set1_ps(d->x[(r + i) * d->k + k]);
            for (int h = 0; h < nv; h++) acc[i * nv + h] = _mm256_fmadd_ps(xv, wv[h], acc[i * nv + h]);
        }
    }
    for (int i = 0; i < nr; i++) {
        float *out = d->out + (r + i) * d->o;
        for (int h = 0; h < nv; h++) {
            const int64_t c = o0 + 8 * h;
            const int n = d->o - c < 8 ? (int)(d->o - c) : 8;
            if (n >= 8) {
                _mm256_storeu_ps(out + c, acc[i * nv + h]);
            } else if (n > 0) {
                float tmp[8];
                _mm256_storeu_ps(tmp, acc[i * nv + h]);
                memcpy(out + c, tmp, (size_t)n * sizeof(float));
            }
        }
    }
}

/* Rows a pass of one panel when there are many rows (a 1x1 conv's pixels): 12 accumulators, 2 weight loads
 * and 6 broadcasts for 12 FMAs, the panel's weights (k * 64 bytes) in L1 for every block of rows. One row
 * a pass, as for a linear layer's few rows, loaded a weight per FMA from L2: ResNet-18's 1x1 shortcuts ran
 * at 12-32 GMAC/s. A panel of 8 outputs or fewer runs its first half alone, 12 rows a pass: the faces net's
 * three heads (5 outputs) 0.086 -> 0.076 ms of a 1-thread run (perf samples). */
#define XNV_DN256_ROWS 6

/* Many rows x one panel: passes of `rows` rows, then the rest (constant accumulator counts), nv halves. */
XNV_FC256 XNV_FC_INLINE void xnv_dn_rows_avx2(const xnv_dense_t *d, int p, int g, int64_t off, int j, int nv) {
    const int rows = 12 / nv;
    int64_t r = 0;
    for (; r + rows <= d->rows; r += rows) xnv_dn_pass_avx2(d, r, rows, p, g, off, j, nv);
    switch (d->rows - r) { /* past 5 only on a half panel (nv 1: 12 rows a pass) */
    case 11: xnv_dn_pass_avx2(d, r, 11, p, g, off, j, 1); break;
    case 10: xnv_dn_pass_avx2(d, r, 10, p, g, off, j, 1); break;
    case 9: xnv_dn_pass_avx2(d, r, 9, p, g, off, j, 1); break;
    case 8: xnv_dn_pass_avx2(d, r, 8, p, g, off, j, 1); break;
    case 7: xnv_dn_pass_avx2(d, r, 7, p, g, off, j, 1); break;
    case 6: xnv_dn_pass_avx2(d, r, 6, p, g, off, j, 1); break;
    case 5: xnv_dn_pass_avx2(d, r, 5, p, g, off, j, nv); break;
    case 4: xnv_dn_pass_avx2(d, r, 4, p, g, off, j, nv); break;
    case 3: xnv_dn_pass_avx2(d, r, 3, p, g, off, j, nv); break;
    case 2: xnv_dn_pass_avx2(d, r, 2, p, g, off, j, nv); break;
    case 1: xnv_dn_pass_avx2(d, r, 1, p, g, off, j, nv); break;
    default: break;
    }
}

/* Many rows of panel j of a group (its first half alone when `half`: 8 outputs or fewer), its weights first
 * copied into a contiguous buffer when there are enough rows: in the group they lie 64 bytes a row, g * 64
 * bytes apart, in an eighth of L1's sets when g = 8, so the passes after the first read them from L2
 * (ResNet-18's 7x7 256 -> 512 shortcut ran at about half the direct kernel's rate). The same sums as in
 * place. From XNV_DN256_COPY_ROWS rows (two passes or more) and k up to XNV_DN256_COPY_K (a 64 KB buffer on
 * the stack). */
#define XNV_DN256_COPY_ROWS 12
#define XNV_DN256_COPY_K 1024
XNV_FC256 static void xnv_dn_panel_avx2(const xnv_dense_t *d, int p, int g, int64_t off, int j, int half) {
    float buf[XNV_DN256_COPY_K * XNV_DN_LANES] __attribute__((aligned(64))); /* float or int8 weights */
    xnv_dense_t one = *d;
    const int copy = g > 1 && d->rows >= XNV_DN256_COPY_ROWS && d->k <= XNV_DN256_COPY_K;
    if (copy) { /* the panel alone: a group of one at panel p + j */
        for (int64_t k = 0; k < d->k; k++) /* constant sizes: moves, not calls */
            if (d->wq)
                memcpy((int8_t *)buf + k * XNV_DN_LANES, d->wq + XNV_DN_AT(d, off, g, k, j), XNV_DN_LANES);
            else
                memcpy(buf + k * XNV_DN_LANES, d->wf + XNV_DN_AT(d, off, g, k, j), XNV_DN_LANES * sizeof(float));
        one.wf = d->wq ? 0 : buf;
        one.wq = d->wq ? (const int8_t *)buf : 0;
        p += j, g = 1, off = 0, j = 0;
    }
    if (half) /* constants: a variable count kept the accumulators in memory */
        xnv_dn_rows_avx2(&one, p, g, off, j, 1);
    else
        xnv_dn_rows_avx2(&one, p, g, off, j, 2);
}

XNV_FC256 static void xnv_dense_avx2(const xnv_dense_t *d, int p0, int p1) {
    for (int p = p0; p < p1; p += XNV_DN_GROUP) {
        int64_t off;
        const int g = xnv_dn_group(d, p, &off), nr = xnv_dn_rows(g, 2);
        int64_t r = 0;
        if (d->rows >= XNV_DN256_ROWS) {
            for (int j = 0; j < g; j++) xnv_dn_panel_avx2(d, p, g, off, j, d->o - (p + j) * XNV_DN_LANES <= 8);
            continue;
        }
        for (; r + nr <= d->rows && nr > 1; r += nr) {
            if (g == 1)
                xnv_dn_pass_avx2(d, r, 4, p, g, off, 0, 2);
            else
                xnv_dn_pass_avx2(d, r, 2, p, g, off, 0, 4);
        }
        for (; r < d->rows; r++) {
            int j = 0;
            for (; j + 4 <= g; j += 4) xnv_dn_pass_avx2(d, r, 1, p, g, off, j, 8);
            for (; j < g; j++) xnv_dn_pass_avx2(d, r, 1, p, g, off, j, 2);
        }
    }
}
#endif /* x86 */

#if defined(__aarch64__)
/* NEON: a panel is four quarters of 4; rows [r, r + nr) x panels [p + j0, p + j0 + m), 4 * nr * m <= 8. */
XNV_FC_INLINE void xnv_dn_pass_neon(const xnv_dense_t *d, int64_t r, int nr, int p, int g, int64_t off, int j0,
                                    int m) {
    float32x4_t acc[8];
    const int64_t o0 = (int64_t)(p + j0) * XNV_DN_LANES;
    for (int h = 0; h < 4 * m; h++) {
        const float32x4_t b = d->bias ? vld1q_f32(d->bias + o0 + 4 * h) : vdupq_n_f32(0.0f);
        for (int i = 0; i < nr; i++) acc[i * 4 * m + h] = b;
    }
    for (int64_t k = 0; k < d->k; k++) {
        float32x4_t wv[8];
        for (int h = 0; h < 2 * m; h++) { /* eight weights: two quarters */
            const int64_t at = XNV_DN_AT(d, off, g, k, j0 + h / 2) + 8 * (h % 2);
            if (d->wq) {
                const int16x8_t q = vmovl_s8(vld1_s8(d->wq + at));
                wv[2 * h] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), vld1q_f32(d->scale + o0 + 8 * h));
                wv[2 * h + 1] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(q))),
                                          vld1q_f32(d->scale + o0 + 8 * h + 4));
            } else {
                wv[2 * h] = vld1q_f32(d->wf + at);
                wv[2 * h + 1] = vld1q_f32(d->wf + at + 4);
            }
        }
        for (int i = 0; i < nr; i++) {
            const float xv = d->x[(r + i) * d->k + k];
            for (int h = 0; h < 4 * m; h++) acc[i * 4 * m + h] = vfmaq_n_f32(acc[i * 4 * m + h], wv[h], xv);
        }
    }
    for (int i = 0; i < nr; i++) {
        float *out = d->out + (r + i) * d->o;
        for (int h = 0; h < 4 * m; h++) {
            const int64_t c = o0 + 4 * h;
            const int n = d->o - c < 4 ? (int)(d->o - c) : 4;
            if (n >= 4) {
                vst1q_f32(out + c, acc[i * 4 * m + h]);
            } else if (n > 0) {
                float tmp[4];
                vst1q_f32(tmp, acc[i * 4 * m + h]);
                memcpy(out + c, tmp, (size_t)n * sizeof(float));
            }
        }
    }
}

static void xnv_dense_neon(const xnv_dense_t *d, int p0, int p1) {
    for (int p = p0; p < p1; p += XNV_DN_GROUP) {
        int64_t off;
        const int g = xnv_dn_group(d, p, &off);
        int64_t r = 0;
        for (; g == 1 && r + 2 <= d->rows; r += 2) xnv_dn_pass_neon(d, r, 2, p, g, off, 0, 1);
        for (; r < d->rows; r++) {
            int j = 0;
            for (; j + 2 <= g; j += 2) xnv_dn_pass_neon(d, r, 1, p, g, off, j, 2);
            for (; j < g; j++) xnv_dn_pass_neon(d, r, 1, p, g, off, j, 1);
        }
    }
}
#endif /* AArch64 */

/* The dense kernel of the float path, or NULL where it would not fuse its multiply-adds (x86's portable
 * path: a linear layer stays on BLAS there). */
static xnv_dense_fn xnv_dense(int path) {
#if defined(__aarch64__)
    (void)path;
    return xnv_dense_neon;
#else
#if defined(__x86_64__) || defined(__i386__)
    switch (xnv_fconv_path(path)) {
    case XNV_PATH_AVX512: return xnv_dense_avx512;
    case XNV_PATH_AVX2: return xnv_dense_avx2;
    default: break;
    }
#endif
    (void)path;
    return 0;
#endif
}

#endif /* XNV_FCONV_H */
