"""Winograd's minimal filtering matrices, and the tables of the AVX2 kernel's 7x7 stride-2 row conv.

The kernel (``cython_kernels/xnv_fc_wino.h``) splits a row's stride-2 7-tap correlation into the even taps
(4, over the even input columns: F(4,4)) and the odd ones (3, over the odd columns: F(4,3)), and sums the
products of the points the two share. This module is the one place that knows the points and matrices:
the kernel receives B^T and the transformed weights in :data:`POINTS` order and applies A^T for it.
"""

from __future__ import annotations

import numpy as np

#: The kernel's point order: 0, 1, -1, 2, -2 and infinity (None), shared by both phases, then 1/2 (the
#: even phase's seventh point).
POINTS: tuple[float | None, ...] = (0.0, 1.0, -1.0, 2.0, -2.0, None, 0.5)


def matrices(m: int, r: int, points: tuple[float | None, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A^T (m x n), G (n x r) and B^T (n x n) of F(m, r) on n = m + r - 1 points, infinity (None) among them,
    in the order given: ``y = A^T [(G g) * (B^T d)]`` is the correlation ``y[i] = sum_k g[k] d[i + k]``.

    Toom-Cook by Lagrange interpolation: a finite point a's row of B^T holds the coefficients (lowest first)
    of prod_{b != a} (x - b) over the other finite points, infinity's those of prod_b (x - b); G's row is
    a^k / prod_{b != a} (a - b), infinity's picks the last tap; A^T's column is a^i, infinity's the last
    output alone.
    """
    n = m + r - 1
    if len(points) != n or sum(p is None for p in points) != 1:
        raise ValueError(f"F({m}, {r}) needs {n} points, infinity once among them")
    finite = [p for p in points if p is not None]
    at, g, bt = np.zeros((m, n)), np.zeros((n, r)), np.zeros((n, n))
    for j, a in enumerate(points):
        if a is None:
            at[m - 1, j] = 1.0
            g[j, r - 1] = 1.0
            bt[j, :n] = np.poly(finite)[::-1]
            continue
        others = [b for b in finite if b != a]
        at[:, j] = a ** np.arange(m)
        g[j] = a ** np.arange(r) / np.prod([a - b for b in others])
        bt[j, :n - 1] = np.poly(others)[::-1]
    return at, g, bt


def row_conv_tables(w: np.ndarray) -> np.ndarray:
    """The kernel's tables for HWIO weights [7][7][c][o]: B^T of both phases ([2][7][7]), then U, the
    weights' transforms [7 points][7 tap rows][2c: the even phase's channels, then the odd's][o], float32.

    The even taps' transforms use F(4,4)'s G, the odd taps' F(4,3)'s (no point 1/2: zeros there), each
    computed in float64 and rounded once.
    """
    kh, kw, c, o = w.shape
    if (kh, kw) != (7, 7):
        raise ValueError(f"the Winograd row conv takes 7x7 weights, not {kh}x{kw}")
    even, odd = POINTS, POINTS[:6]
    _, g4, bt4 = matrices(4, 4, even)
    _, g3, bt3 = matrices(4, 3, odd)
    bt = np.zeros((2, 7, 7))
    bt[0] = bt4
    bt[1, :6, :6] = bt3
    w64 = w.astype(np.float64)
    u = np.zeros((7, kh, 2 * c, o))
    u[:, :, :c] = np.einsum("qb,ybco->qyco", g4, w64[:, 0::2])
    u[:6, :, c:] = np.einsum("qb,ybco->qyco", g3, w64[:, 1::2])
    return np.concatenate([bt.ravel(), u.ravel()]).astype(np.float32)
