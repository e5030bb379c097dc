# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Binary convolution and XNOR GEMM on packed bits: the hot path of every binary layer.

One call = one parallel region. The input is masked (unused channel bits cleared) and padded with zero
bits (+1) once; work items are ranges of tiles (4 or 8 pixels), each through every block of 32 output
channels, taken by each thread from its own share and then from the others' (``xnv_steal.h``). For each
block an item takes the block's weights (interleaved once at load, or into a thread-local, L1-sized buffer),
runs the SIMD microkernel of ``xnv_simd.h`` on every tile (a direct convolution: no im2col), and its
epilogue turns popcounts into ±1 dot products, subtracts the padded taps for zero padding (Larq Compute
Engine's correction), and writes int32, ``scale * acc + bias`` in float32, or packed sign bits through an
exact integer threshold. The float epilogue may go on (Bi-Real's step between two binary convs, fused at
load time): add a residual tensor, apply PReLU, and write the packed signs of the result beside it, for the
next binary conv.
Arguments are validated by ``xnorvision.kernels``; this module trusts them.
"""

from cython.parallel cimport prange
from libc.math cimport isfinite
from libc.string cimport memset
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cimport numpy as cnp

from xnv_steal cimport (xnv_steal_half, xnv_steal_init, xnv_steal_set_late, xnv_steal_start, xnv_steal_t,
                        xnv_steal_take_half)

import numpy as np

cnp.import_array()

cdef extern from "xnv_simd.h" nogil:
    ctypedef void (*xnv_ukernel_t)(uint64_t **xp, const uint64_t *w, const int64_t *tapoff, int ntaps,
                                   int wc, int32_t k, int32_t **out, int npx)
    ctypedef void (*xnv_signs_t)(const int32_t *acc, int npx, const int32_t *thr, uint32_t flip, uint32_t *out,
                                 int64_t stride)
    ctypedef void (*xnv_affine_t)(const int32_t *acc, const float *scale, const float *bias, float *out)
    ctypedef void (*xnv_epilogue_t)(const int32_t *acc, int npx, const float *scale, const float *bias,
                                    const float *r, const float *a, float *out, int64_t stride, uint32_t *bits,
                                    int64_t bstride, int n, int *nan)
    enum:
        XNV_BLK
        XNV_TILE_MAX
    uint64_t XNV_NIBBLES
    xnv_ukernel_t xnv_ukernel(int path)
    xnv_signs_t xnv_signs(int path)
    xnv_affine_t xnv_affine(int path)
    xnv_epilogue_t xnv_epilogue(int path)
    double xnv_peak(int path, int64_t iters, uint64_t *checksum)
    int xnv_weight_split(int path)
    int xnv_tile(int path)
    void xnv_store_weight(int split, int wc, uint64_t *wbuf, int64_t i, int c, uint64_t v)

cdef enum:
    OUT_INT = 0
    OUT_FLOAT = 1
    OUT_BITS = 2

cdef struct Conv:
    const uint64_t *x        # masked, padded input [n][hp][wp][wc]
    const uint64_t *w        # weights as given [o][ntaps][wc]
    const int64_t *tapoff    # word offset of each tap from a pixel's patch origin
    const uint64_t *zeros    # wc * split zero words: an all-(+1) pixel, to sum each tap's weights
    int h, w_in, hp, wp, wc, kh, kw, ntaps, stride, ph, pw, ho, wo, o, c_in, zero_pad, mode, owords32
    int split                # words the path stores per weight and input word (``xnv_weight_split``)
    int tile                 # output pixels per microkernel call (``xnv_tile``)
    uint64_t lastmask
    int64_t npix, ntiles
    xnv_ukernel_t uk
    xnv_signs_t signs
    xnv_affine_t affine
    xnv_epilogue_t epilogue
    void *out
    const float *scale
    const float *bias
    const int32_t *thr       # per channel, padded to whole blocks (INT32_MIN: never set)
    const uint32_t *flipbits  # per block: channels whose sign test is inverted (negative scale)
    const uint64_t *wprep    # weights interleaved ahead of time (``prepare``), or NULL: per item
    const int32_t *tsprep    # their tap sums
    const float *residual    # float epilogue: added after the affine [N,Ho,Wo,O], or NULL
    const float *slope       # then PReLU with this per-channel slope, or NULL
    uint32_t *bits           # and the result's packed signs [N,Ho,Wo,ceil(O/64)], or NULL
    int *nans                # per thread: NaN results seen (their sign is undefined)


cdef inline bint _affine_negative(float s, int32_t a, float b) noexcept nogil:
    """float32 ``s * a + b < 0`` rounded twice, as numpy computes it (the build disables FMA contraction)."""
    cdef float y = s * <float>a
    y = y + b
    return y < 0


cdef void _thresholds(const float *scale, const float *bias, int o, int32_t k, int32_t *thr,
                      uint32_t *flipbits) noexcept nogil:
    """Per channel, the integer threshold that reproduces ``scale * acc + bias < 0`` exactly for |acc| <= k.

    Rounding is monotone, so the test flips once as acc grows: binary-search the first acc where it does.
    The sign bit is then ``(acc < thr) != flip``, flip being set for a negative scale.
    """
    cdef int ch
    cdef int32_t lo, hi, mid
    cdef bint neg
    for ch in range(o):
        neg = scale[ch] < 0
        lo = -k
        hi = k + 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if _affine_negative(scale[ch], mid, bias[ch]) == neg:
                hi = mid
            else:
                lo = mid + 1
        thr[ch] = lo
        if neg:
            flipbits[ch // XNV_BLK] |= (<uint32_t>1) << (ch % XNV_BLK)


cdef void _prepare_block(const Conv *cv, int blk, uint64_t *wbuf, int32_t *tapsum, int32_t *tile,
                         bint sums) noexcept nogil:
    """Interleave a block's weights by channel in the path's layout (``xnv_store_weight``: ``wbuf[i*32 + c]``,
    i = t*wc + j, or its nibbles apart); sum each tap's ±1 weights."""
    cdef int o0 = blk * XNV_BLK, c, i, t, p
    cdef int nc = min(<int>XNV_BLK, cv.o - o0), wc = cv.wc, nw = cv.ntaps * cv.wc
    cdef const uint64_t *src
    cdef uint64_t v
    cdef uint64_t *xp[XNV_TILE_MAX]
    cdef int32_t *op[XNV_TILE_MAX]
    cdef int64_t zero_off = 0
    for c in range(XNV_BLK):
        src = cv.w + <int64_t>(o0 + c) * nw if c < nc else NULL  # channels past o: zero words
        for i in range(nw):
            v = 0
            if src != NULL:
                v = src[i] & cv.lastmask if i % wc == wc - 1 else src[i]
            xnv_store_weight(cv.split, wc, wbuf, i, c, v)
    if sums:
        # A tap's weight sum is its dot product with an all-(+1) pixel: let the microkernel do it.
        for p in range(XNV_TILE_MAX):
            xp[p] = <uint64_t *>cv.zeros
            op[p] = tile + p * XNV_BLK
        for t in range(cv.ntaps):
            cv.uk(xp, wbuf + t * wc * XNV_BLK * cv.split, &zero_off, 1, wc, cv.c_in, op, 1)
            for c in range(XNV_BLK):
                tapsum[t * XNV_BLK + c] = tile[c]


cdef inline void _correct_border(const Conv *cv, int oy, int ox, int32_t *acc, const int32_t *tapsum) noexcept nogil:
    """Zero padding: a padded tap was computed as +1 input; remove its contribution (the tap's weight sum).
    Called for pixels outside the interior only (``_run_block`` tells them apart)."""
    cdef int iy = oy * cv.stride - cv.ph, ix = ox * cv.stride - cv.pw
    cdef int kh = cv.kh, kw = cv.kw, h = cv.h, w = cv.w_in, dy, dx, c
    cdef const int32_t *ts
    for dy in range(kh):
        for dx in range(kw):
            if iy + dy < 0 or iy + dy >= h or ix + dx < 0 or ix + dx >= w:
                ts = tapsum + (dy * kw + dx) * XNV_BLK
                for c in range(XNV_BLK):
                    acc[c] -= ts[c]


cdef enum:
    _LINE_INTS = 16  # int32 values in a 64-byte cache line (and in an ``xnv_steal_t``)
    _CHUNKS = 8  # a thread's smallest take of tiles: this part of its share (of all of it with unprepared
                 # weights, which each take interleaves again)


cdef inline int32_t *_aligned_i32(int32_t *p) noexcept nogil:
    """``p`` moved up to the next cache line (its buffer has _LINE_INTS values to spare)."""
    return <int32_t *>((<size_t>p + 63) & ~(<size_t>63))


cdef inline int64_t _line_round(int64_t n) noexcept nogil:
    """``n`` int32 values rounded up to whole cache lines."""
    return (n + _LINE_INTS - 1) // _LINE_INTS * _LINE_INTS


cdef inline void _epilogue(const Conv *cv, int blk, int64_t pix, int32_t *acc) noexcept nogil:
    """Finish one pixel of a block as int32 or float, without the fused float epilogue (see
    ``_fused_epilogue``; packed signs: ``cv.signs``, a tile at a time)."""
    cdef int o0 = blk * XNV_BLK, c
    cdef int nc = min(<int>XNV_BLK, cv.o - o0)
    cdef int32_t *oi
    cdef float *of
    cdef const float *sc
    cdef const float *bi
    if cv.mode == OUT_INT:
        oi = <int32_t *>cv.out + pix * cv.o + o0
        for c in range(nc):
            oi[c] = acc[c]
    elif cv.mode == OUT_FLOAT:
        of = <float *>cv.out + pix * cv.o + o0
        sc = cv.scale + o0
        bi = cv.bias + o0
        if nc == XNV_BLK:
            cv.affine(acc, sc, bi, of)
        else:
            for c in range(nc):
                of[c] = sc[c] * <float>acc[c] + bi[c]


cdef inline void _fused_epilogue(const Conv *cv, int blk, int64_t pix, int npx, const int32_t *tile,
                                 int *nans) noexcept nogil:
    """Finish ``npx`` consecutive pixels of a block from ``pix`` on: affine, residual, PReLU, sign bits."""
    cdef int o0 = blk * XNV_BLK
    cdef int64_t at = pix * cv.o + o0
    cv.epilogue(tile, npx, cv.scale + o0, cv.bias + o0, NULL if cv.residual == NULL else cv.residual + at,
                NULL if cv.slope == NULL else cv.slope + o0, <float *>cv.out + at, cv.o,
                NULL if cv.bits == NULL else cv.bits + pix * cv.owords32 + blk, cv.owords32,
                min(<int>XNV_BLK, cv.o - o0), nans)


cdef void _run_item(const Conv *cv, int64_t t0, int64_t t1, uint64_t *wbuf, int32_t *tapsum, int32_t *tile,
                    int *nans) noexcept nogil:
    """Every block of output channels over tiles [t0, t1): each output word is written by one thread (two
    threads writing the two halves of a pixel's word, or neighbouring pixels, took its cache line from each
    other: the second thread spent 5x the first one's time storing signs)."""
    cdef int blk
    for blk in range((cv.o + XNV_BLK - 1) // XNV_BLK):
        _run_block(cv, blk, t0, t1, wbuf, tapsum, tile, nans)


cdef void _run_items(const Conv *cv, xnv_steal_t *steal, int tid, int nt, int64_t grain, uint64_t *wbuf,
                     int32_t *tapsum, int32_t *tile, int *nans) noexcept nogil:
    """Thread ``tid``'s tiles: its own share's, half of what is left and at least ``grain`` a take, then
    back halves of the others' (``xnv_steal.h``)."""
    cdef int64_t a = cv.ntiles * tid // nt, b, n
    xnv_steal_start(tid, nt)
    while True:
        n = xnv_steal_take_half(steal + tid, a, grain)
        while n > 0:
            _run_item(cv, a, a + n, wbuf, tapsum, tile, nans)
            a += n
            n = xnv_steal_take_half(steal + tid, a, grain)
        if not xnv_steal_half(steal, tid, nt, &a, &b):
            return


cdef void _run_block(const Conv *cv, int blk, int64_t t0, int64_t t1, uint64_t *wbuf, int32_t *tapsum,
                     int32_t *tile, int *nans) noexcept nogil:
    cdef int64_t t, pix, plane = <int64_t>cv.ho * cv.wo
    cdef int p, npx, ntile = cv.tile, ho = cv.ho, wo = cv.wo
    cdef int32_t k = cv.ntaps * cv.c_in
    cdef uint64_t *xp[XNV_TILE_MAX]
    cdef int32_t *op[XNV_TILE_MAX]
    # int32 output of a whole block: the microkernel writes straight into the output tensor
    cdef bint direct = cv.mode == OUT_INT and (blk + 1) * XNV_BLK <= cv.o
    cdef bint fused = cv.mode == OUT_FLOAT and (cv.residual != NULL or cv.slope != NULL or cv.bits != NULL)
    cdef bint border
    cdef int oys[XNV_TILE_MAX]
    cdef int oxs[XNV_TILE_MAX]
    # pixels whose taps all fall inside the image, oy in [ya, yb) and ox in [xa, xb): no border to correct,
    # told by four compares of locals (the struct's fields were reloaded for each pixel's own test)
    cdef int ya = (cv.ph + cv.stride - 1) // cv.stride, xa = (cv.pw + cv.stride - 1) // cv.stride
    cdef int yb = (cv.h + cv.ph - cv.kh) // cv.stride + 1 if cv.h + cv.ph >= cv.kh else 0
    cdef int xb = (cv.w_in + cv.pw - cv.kw) // cv.stride + 1 if cv.w_in + cv.pw >= cv.kw else 0
    # (n, oy, ox) of the next pixel and its patch in the padded input, advanced a pixel at a time: a column
    # is xstep words on, a row ystep from the row's start; no division or multiplication a pixel
    cdef int64_t xstep = <int64_t>cv.stride * cv.wc * cv.split, ystep = xstep * cv.wp
    cdef int64_t image = <int64_t>cv.hp * cv.wp * cv.wc * cv.split
    cdef int64_t n = t0 * ntile // plane
    cdef int oy = <int>(t0 * ntile % plane // wo), ox = <int>(t0 * ntile % plane % wo)
    cdef uint64_t *row = <uint64_t *>cv.x + n * image + oy * ystep
    cdef uint64_t *xcur = row + ox * xstep
    cdef int32_t *obase = <int32_t *>cv.out + blk * XNV_BLK
    if cv.wprep != NULL:
        wbuf = <uint64_t *>cv.wprep + <int64_t>blk * cv.ntaps * cv.wc * XNV_BLK * cv.split
        tapsum = <int32_t *>cv.tsprep + <int64_t>blk * cv.ntaps * XNV_BLK
    else:
        _prepare_block(cv, blk, wbuf, tapsum, tile, cv.zero_pad)
    for p in range(ntile):
        op[p] = tile + p * XNV_BLK
    for t in range(t0, t1):
        pix = t * ntile
        npx = <int>min(<int64_t>ntile, cv.npix - pix)  # the last tile may be short
        border = False
        for p in range(npx):
            if direct:
                op[p] = obase + (pix + p) * cv.o
            oys[p] = oy
            oxs[p] = ox
            border = border or not (ya <= oy < yb and xa <= ox < xb)
            xp[p] = xcur
            ox = ox + 1
            xcur = xcur + xstep
            if ox == wo:
                ox = 0
                oy = oy + 1
                row = row + ystep
                if oy == ho:
                    oy = 0
                    n = n + 1
                    row = <uint64_t *>cv.x + n * image
                xcur = row
        cv.uk(xp, wbuf, cv.tapoff, cv.ntaps, cv.wc, k, op, npx)
        if cv.zero_pad and border:
            for p in range(npx):
                if not (ya <= oys[p] < yb and xa <= oxs[p] < xb):
                    _correct_border(cv, oys[p], oxs[p], op[p], tapsum)
        if fused:  # the tile's rows are consecutive pixels
            _fused_epilogue(cv, blk, pix, npx, tile, nans)
        elif cv.mode == OUT_BITS:  # a block is half a uint64 word: threads never share a word they modify
            cv.signs(tile, npx, cv.thr + blk * XNV_BLK, cv.flipbits[blk],
                     <uint32_t *>cv.out + pix * cv.owords32 + blk, cv.owords32)
        elif not direct:
            for p in range(npx):
                _epilogue(cv, blk, pix + p, op[p])


cdef void _pad_input(const uint64_t *x, uint64_t *xp, int64_t n, int h, int w, int wc, int ph, int pw,
                     uint64_t lastmask, int split) noexcept nogil:
    """Copy ``x`` into the middle of the zeroed ``xp`` (zero bits are +1), clearing unused channel bits; with
    ``split`` 2, each word as its low nibbles then its high nibbles (the AVX2 microkernel's input)."""
    cdef int64_t i, y, xx, j, wp = w + 2 * pw
    cdef const uint64_t *src
    cdef uint64_t *dst
    cdef uint64_t v
    for i in range(n):
        for y in range(h):
            for xx in range(w):
                src = x + ((i * h + y) * w + xx) * wc
                dst = xp + ((i * (h + 2 * ph) + y + ph) * wp + xx + pw) * wc * split
                if split == 1:
                    for j in range(wc - 1):
                        dst[j] = src[j]
                    dst[wc - 1] = src[wc - 1] & lastmask
                else:
                    for j in range(wc):
                        v = src[j] & lastmask if j == wc - 1 else src[j]
                        dst[2 * j] = v & XNV_NIBBLES
                        dst[2 * j + 1] = (v >> 4) & XNV_NIBBLES


def thresholds(cnp.ndarray scale, cnp.ndarray bias, int32_t k):
    """Sign thresholds of packed-signs output (mode 2) for sums of ``k`` taps x channels: (thr, flip bits).

    A binary search per channel: a 512-channel layer spent 12 us a call on it, so a layer's plan makes
    them once and hands them to :func:`conv`.
    """
    cdef int o = scale.shape[0], nblk = (o + XNV_BLK - 1) // XNV_BLK
    _check_finite("scale", scale)
    _check_finite("bias", bias)
    cdef cnp.ndarray thr = np.full(nblk * XNV_BLK, np.iinfo(np.int32).min, np.int32)
    cdef cnp.ndarray flipbits = np.zeros(nblk, np.uint32)
    _thresholds(<const float *>cnp.PyArray_DATA(scale), <const float *>cnp.PyArray_DATA(bias), o, k,
                <int32_t *>cnp.PyArray_DATA(thr), <uint32_t *>cnp.PyArray_DATA(flipbits))
    thr.flags.writeable = False
    flipbits.flags.writeable = False
    return thr, flipbits


def conv(cnp.ndarray x, cnp.ndarray w, int c_in, int stride, int ph, int pw, bint zero_pad, int ho, int wo,
         int mode, cnp.ndarray scale, cnp.ndarray bias, int path, int nthreads, tuple prepared=None,
         cnp.ndarray residual=None, cnp.ndarray slope=None, bint signs=False, tuple signs_at=None):
    """Binary convolution of packed ``x`` [N,H,W,wc] with packed ``w`` [O,kh,kw,wc] (arguments pre-checked).

    ``prepared``: ``prepare(w, c_in, path)`` of the same ``w`` and ``c_in``, to skip interleaving weights;
    ``signs_at``: ``thresholds(scale, bias, kh*kw*c_in)`` of the same arguments, for mode 2.

    mode 0 -> int32 [N,Ho,Wo,O]; 1 -> float32 ``scale*acc + bias``; 2 -> packed signs [N,Ho,Wo,ceil(O/64)].
    Mode 1 only: ``y = scale*acc + bias (+ residual)``, then ``prelu(y, slope)`` when ``slope`` is given;
    ``signs`` returns ``(y, packed signs of y)`` and raises ValueError if y holds NaN (as ``pack`` does).
    """
    return bind(x, w, c_in, stride, ph, pw, zero_pad, ho, wo, mode, scale, bias, path, nthreads, prepared,
                residual, slope, signs, signs_at).run()


cdef struct ConvRun:
    Conv cv
    const uint64_t *src  # the input as given, padded into xpad (cv.x) by every run; NULL: cv.x reads it
    uint64_t *xpad
    int64_t n  # images (the rest of the geometry is cv's)
    uint64_t *zero_words  # an output whose last words are written in part (O % 64): cleared by every run
    int64_t nzero
    int threads  # the most threads a run may use: the per-thread buffers below are that many
    bint signs
    uint64_t *wb  # per thread: interleaved weights (NULL when prepared)
    int32_t *ts  # per thread: tap sums (NULL when prepared)
    int32_t *pcs  # per thread: a tile of sums
    int *nn  # per thread, a cache line each: NaN results seen
    xnv_steal_t *steal  # per thread, a cache line each: its range of tiles not yet taken (``xnv_steal.h``)
    int64_t bufwords, ts_stride, pc_stride


cdef int _conv_run(void *ctx, int nthreads) noexcept nogil:
    """Run a bound conv (a ``ConvRun``) on what its input holds now: 0, or 1 when a result whose sign was
    asked for is NaN. A native program's step (``xnorvision._program``)."""
    cdef ConvRun *r = <ConvRun *>ctx
    cdef int nt = max(1, min(nthreads, r.threads)), tid
    if r.src != NULL:
        _pad_input(r.src, r.xpad, r.n, r.cv.h, r.cv.w_in, r.cv.wc, r.cv.ph, r.cv.pw, r.cv.lastmask, r.cv.split)
    if r.zero_words != NULL:
        memset(r.zero_words, 0, r.nzero * sizeof(uint64_t))
    # Work is ranges of tiles, each through every block. Each thread takes the tiles of its own equal share
    # first, in order, so every layer of a size splits its pixels the same way (the direct float conv splits
    # its rows so too) and each core finds in its own L2 the rows it wrote in the layer before: against 4
    # chunks a thread taken in any order, ResNet-18 on 2 threads 2.79 -> 2.62 ms a run, the faces proposal net
    # 0.84 -> 0.80 ms. A thread done with its share takes the back half of another's (``xnv_steal.h``): a
    # thread on a core that runs slower (shared with another program) no longer holds the other one up.
    cdef int64_t grain = max(1, r.cv.ntiles // (nt * (_CHUNKS if r.cv.wprep != NULL else 1)))
    memset(r.nn, 0, nt * _LINE_INTS * sizeof(int))
    cdef const Conv *cvp = &r.cv
    if nt == 1 or r.cv.ntiles == 1:
        _run_item(cvp, 0, r.cv.ntiles, _aligned(r.wb), r.ts, r.pcs, r.nn)
    else:
        nt = <int>min(<int64_t>nt, r.cv.ntiles)
        xnv_steal_init(r.steal, nt, r.cv.ntiles)
        for tid in prange(nt, num_threads=nt, schedule="static", chunksize=1):
            _run_items(cvp, r.steal, tid, nt, grain,
                       NULL if r.wb == NULL else _aligned(r.wb + tid * r.bufwords),
                       NULL if r.ts == NULL else r.ts + tid * r.ts_stride, r.pcs + tid * r.pc_stride,
                       r.nn + tid * _LINE_INTS)
    if r.signs:
        for tid in range(nt):
            if r.nn[tid * _LINE_INTS]:
                return 1
    return 0


cdef class ConvCall:
    """A binary conv bound to its arrays (``bind``): ``run()`` computes it again from what its input holds
    now, and ``entry()`` hands the same run to a native program, which calls it without Python."""
    cdef ConvRun r
    cdef list keep  # every array the run reads or writes
    cdef object x  # the input it reads now
    cdef readonly object out, packed

    def use_input(self, cnp.ndarray x):
        """Read ``x`` from now on: an array like the one bound (shape, dtype, C order: the caller checks)."""
        if self.r.src != NULL:  # copied into the padded buffer by each run
            self.r.src = <const uint64_t *>cnp.PyArray_DATA(x)
        else:
            self.r.cv.x = <const uint64_t *>cnp.PyArray_DATA(x)
        self.x = x

    def run(self):
        """The conv of the input's current values: ``out``, or ``(out, packed)`` with signs."""
        cdef int bad
        with nogil:
            bad = _conv_run(&self.r, self.r.threads)
        if bad:
            raise ValueError("x contains NaN: its sign is undefined")
        return self.out if self.packed is None else (self.out, self.packed)

    def entry(self):
        """(address of the run function, address of its context): valid while this object lives."""
        return <size_t>&_conv_run, <size_t>&self.r


def bind(cnp.ndarray x, cnp.ndarray w, int c_in, int stride, int ph, int pw, bint zero_pad, int ho, int wo,
         int mode, cnp.ndarray scale, cnp.ndarray bias, int path, int nthreads, tuple prepared=None,
         cnp.ndarray residual=None, cnp.ndarray slope=None, bint signs=False, tuple signs_at=None,
         cnp.ndarray out=None, cnp.ndarray packed=None):
    """``conv``'s arguments bound once into a ``ConvCall`` that runs on up to ``nthreads`` threads; ``out``
    and ``packed`` (the shapes and dtypes ``conv`` returns, C-contiguous, apart from the inputs) receive the
    results when given, else new arrays do."""
    cdef ConvCall call = ConvCall.__new__(ConvCall)
    cdef ConvRun *r = &call.r
    cdef Conv *cv = &r.cv
    cdef int n = x.shape[0], h = x.shape[1], win = x.shape[2], wc = x.shape[3]
    if mode != OUT_INT:
        _check_finite("scale", scale)
        _check_finite("bias", bias)
    cdef int o = w.shape[0], kh = w.shape[1], kw = w.shape[2]
    cdef int nt = max(1, nthreads), dy, dx
    cdef int words = (o + 63) // 64
    cdef uint64_t lastmask = ~(<uint64_t>0) if c_in % 64 == 0 else ((<uint64_t>1) << (c_in % 64)) - 1
    cdef cnp.ndarray xpad, tapoff, thr = None, flipbits = None, zeros = None, wbuf = None, tapsum = None
    cdef cnp.ndarray scratch
    cdef int split = xnv_weight_split(path)
    keep = [w, scale, bias, residual, slope, prepared]
    r.src, r.n = NULL, n
    if ph == 0 and pw == 0 and c_in % 64 == 0 and split == 1:
        xpad = x
    else:
        xpad = np.zeros((n, h + 2 * ph, win + 2 * pw, wc * split), np.uint64)  # the border stays zero
        r.src = <const uint64_t *>cnp.PyArray_DATA(x)
        r.xpad = <uint64_t *>cnp.PyArray_DATA(xpad)
    tapoff = np.empty(kh * kw, np.int64)
    for dy in range(kh):
        for dx in range(kw):
            (<int64_t *>cnp.PyArray_DATA(tapoff))[dy * kw + dx] = (<int64_t>dy * (win + 2 * pw) + dx) * wc * split
    if out is None:
        if mode == OUT_INT:
            out = np.empty((n, ho, wo, o), np.int32)
        elif mode == OUT_FLOAT:
            out = np.empty((n, ho, wo, o), np.float32)
        else:
            out = np.zeros((n, ho, wo, words), np.uint64)
    if signs and packed is None:
        packed = np.zeros((n, ho, wo, words), np.uint64)
    # a block writes half a word: with O % 64 <= 32 the other half of a pixel's last word is never written
    r.zero_words, r.nzero = NULL, 0
    if o % 64 and (mode == OUT_BITS or signs):
        r.zero_words = <uint64_t *>cnp.PyArray_DATA(out if mode == OUT_BITS else packed)
        r.nzero = <int64_t>n * ho * wo * words
    keep += [xpad, tapoff, out, packed]
    if mode == OUT_BITS:
        thr, flipbits = signs_at if signs_at is not None else thresholds(scale, bias, kh * kw * c_in)
        keep += [thr, flipbits]
    cv.x = <const uint64_t *>cnp.PyArray_DATA(xpad)
    cv.w = <const uint64_t *>cnp.PyArray_DATA(w)
    cv.tapoff = <const int64_t *>cnp.PyArray_DATA(tapoff)
    cv.zeros = NULL
    cv.h, cv.w_in, cv.hp, cv.wp, cv.wc = h, win, h + 2 * ph, win + 2 * pw, wc
    cv.kh, cv.kw, cv.ntaps, cv.stride, cv.ph, cv.pw, cv.ho, cv.wo = kh, kw, kh * kw, stride, ph, pw, ho, wo
    cv.o, cv.c_in, cv.zero_pad, cv.mode, cv.owords32 = o, c_in, zero_pad, mode, 2 * words
    cv.lastmask = lastmask
    cv.npix = <int64_t>n * ho * wo
    cv.tile = xnv_tile(path)
    cv.ntiles = (cv.npix + cv.tile - 1) // cv.tile
    cv.uk = xnv_ukernel(path)
    cv.split = split
    cv.signs = xnv_signs(path)
    cv.affine = xnv_affine(path)
    cv.epilogue = xnv_epilogue(path)
    cv.out = cnp.PyArray_DATA(out)
    cv.scale = <const float *>cnp.PyArray_DATA(scale)
    cv.bias = <const float *>cnp.PyArray_DATA(bias)
    cv.thr = NULL if thr is None else <const int32_t *>cnp.PyArray_DATA(thr)
    cv.flipbits = NULL if flipbits is None else <const uint32_t *>cnp.PyArray_DATA(flipbits)
    cv.wprep = NULL
    cv.tsprep = NULL
    cv.residual = NULL if residual is None else <const float *>cnp.PyArray_DATA(residual)
    cv.slope = NULL if slope is None else <const float *>cnp.PyArray_DATA(slope)
    cv.bits = NULL if packed is None else <uint32_t *>cnp.PyArray_DATA(packed)
    r.threads, r.signs = nt, signs
    # Each thread's NaN count and scratch on cache lines of its own: the fused epilogue adds to its count
    # after every pixel, and two counts (or tiles) on one line made the cores take the line from each other
    # on every write. 56x56x64 with residual, PReLU and signs fused: 2 threads 1.00x one thread's speed
    # before, 1.6-1.7x after; signs alone 1.1x -> 1.5x. All in one int32 array (allocations are much of a
    # small conv's serial time): a line per thread for its count, one for its range of tiles, then a tile
    # per thread.
    r.ts_stride, r.pc_stride = _line_round(cv.ntaps * XNV_BLK), _line_round(cv.tile * XNV_BLK)
    scratch = np.empty(nt * (2 * _LINE_INTS + r.pc_stride) + _LINE_INTS, np.int32)
    r.nn = <int *>_aligned_i32(<int32_t *>cnp.PyArray_DATA(scratch))
    r.steal = <xnv_steal_t *>(r.nn + nt * _LINE_INTS)
    r.pcs = <int32_t *>r.nn + 2 * nt * _LINE_INTS
    r.wb, r.ts, r.bufwords = NULL, NULL, 0
    if prepared is not None:
        cv.wprep = <const uint64_t *>cnp.PyArray_DATA(prepared[0])
        cv.tsprep = <const int32_t *>cnp.PyArray_DATA(prepared[1])
    else:  # each item interleaves its blocks' weights, and sums their taps, into buffers of its thread's
        zeros = np.zeros(wc * split, np.uint64)
        cv.zeros = <const uint64_t *>cnp.PyArray_DATA(zeros)
        r.bufwords = cv.ntaps * wc * XNV_BLK * cv.split + 8  # + 8: room to align each thread's buffer to 64 bytes
        wbuf = np.empty(nt * r.bufwords, np.uint64)
        tapsum = np.empty(nt * r.ts_stride + _LINE_INTS, np.int32)
        r.wb = <uint64_t *>cnp.PyArray_DATA(wbuf)
        r.ts = _aligned_i32(<int32_t *>cnp.PyArray_DATA(tapsum))
    keep += [scratch, zeros, wbuf, tapsum]
    call.keep, call.x, call.out, call.packed = keep, x, out, packed
    return call


cdef _check_finite(str name, cnp.ndarray a):
    """Raise ValueError unless the float32 vector ``a`` is finite (cheaper here than in numpy per call)."""
    cdef const float *v = <const float *>cnp.PyArray_DATA(a)
    cdef Py_ssize_t i
    for i in range(a.shape[0]):
        if not isfinite(v[i]):
            raise ValueError(f"{name} must be finite, got {v[i]} at index {i}")


cdef inline uint64_t *_aligned(uint64_t *p) noexcept nogil:
    return <uint64_t *>((<size_t>p + 63) & ~(<size_t>63))


def peak(int path, int64_t iters, int nthreads):
    """Run the path's register-only XOR+popcount+add loop on ``nthreads`` threads; returns binary MACs done."""
    cdef int t, nt = max(1, nthreads)
    cdef double total = 0
    cdef cnp.ndarray checks = np.zeros(nt, np.uint64)  # the loops' results, so they cannot be elided
    cdef uint64_t *ck = <uint64_t *>cnp.PyArray_DATA(checks)
    if nt == 1:
        with nogil:
            total = xnv_peak(path, iters, ck)
    else:
        for t in prange(nt, nogil=True, num_threads=nt, schedule="static", chunksize=1):
            total += xnv_peak(path, iters, ck + t)
    return total


cdef extern from "xnv_simd.h" nogil:
    unsigned xnv_cpu_features()
    int xnv_path_supported(int path)
    int xnv_best_path()
    int xnv_float_path(int path)


def cpu_feature_bits() -> int:
    """Bit set of XNV_CPU_* features (avx2=1, avx512f=2, avx512_vpopcntdq=4, neon=8, popcnt=16)."""
    return xnv_cpu_features()


def path_supported(int path) -> bool:
    """Whether this CPU can run popcount path ``path`` (0 portable, 1 avx2, 2 avx512, 3 neon)."""
    return bool(xnv_path_supported(path))


def best_path() -> int:
    """The fastest popcount path this CPU supports."""
    return xnv_best_path()


def float_path(int path) -> int:
    """The path the float kernels run for popcount path ``path`` (AVX2 for AVX-512 on CPUs that run 512-bit
    vectors as two 256-bit halves: xnv_float_path)."""
    return xnv_float_path(path)


def prepare(cnp.ndarray w, int c_in, int path):
    """Interleave packed weights [O,kh,kw,wc] for the microkernel once: (blocks uint64, tap sums int32)."""
    cdef Conv cv
    cdef int o = w.shape[0], nblk = (o + XNV_BLK - 1) // XNV_BLK, blk
    cdef int ntaps = w.shape[1] * w.shape[2], wc = w.shape[3]
    cdef int split = xnv_weight_split(path)
    cdef cnp.ndarray blocks = np.empty((nblk, ntaps * wc * XNV_BLK * split), np.uint64)
    cdef cnp.ndarray sums = np.empty((nblk, ntaps * XNV_BLK), np.int32)
    cdef cnp.ndarray zeros = np.zeros(wc * split, np.uint64)
    cdef cnp.ndarray tile = np.empty(XNV_TILE_MAX * XNV_BLK, np.int32)
    cv.w = <const uint64_t *>cnp.PyArray_DATA(w)
    cv.zeros = <const uint64_t *>cnp.PyArray_DATA(zeros)
    cv.o, cv.ntaps, cv.wc, cv.c_in = o, ntaps, wc, c_in
    cv.lastmask = ~(<uint64_t>0) if c_in % 64 == 0 else ((<uint64_t>1) << (c_in % 64)) - 1
    cv.uk = xnv_ukernel(path)
    cv.split = split
    for blk in range(nblk):
        _prepare_block(&cv, blk, <uint64_t *>cnp.PyArray_DATA(blocks) + <int64_t>blk * ntaps * wc * XNV_BLK * split,
                       <int32_t *>cnp.PyArray_DATA(sums) + <int64_t>blk * ntaps * XNV_BLK,
                       <int32_t *>cnp.PyArray_DATA(tile), True)
    return blocks, sums


def late_thread(int64_t us):
    """For tests: from now on the last thread of each of this module's parallel regions starts ``us``
    microseconds late (0: on time), so that the others take its work (``xnv_steal.h``)."""
    xnv_steal_set_late(us)

