"""Winograd's minimal filtering matrices, and the tables of the AVX2 kernel's 7x7 stride-2 conv.

The kernel (``cython_kernels/xnv_fc_wino.h``) splits a stride-2 7-tap correlation into the even taps (4,
over the even inputs) and the odd ones (3, over the odd inputs), along each row (F(4,4) and F(4,3)) and down
each column (F(2,4) and F(2,3)), and sums the products of the points the two phases share. This module is
the one place that knows the points and matrices: the kernel receives B^T and the transformed weights in
:data:`ROW_POINTS` and :data:`COLUMN_POINTS` order and applies A^T for them.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict

import numpy as np

#: The kernel's point order along a row: 0, 1, -1, 2, -2 and infinity (None), shared by both phases of the
#: taps, then 1/2 (the even phase's own seventh point).
ROW_POINTS: tuple[float | None, ...] = (0.0, 1.0, -1.0, 2.0, -2.0, None, 0.5)
#: The order down the columns (F(2,4) and F(2,3)): 0, 1, -1 and infinity shared, then -2 (the even phase's).
COLUMN_POINTS: tuple[float | None, ...] = (0.0, 1.0, -1.0, None, -2.0)


#: the tables of the last few weights, by their bytes: conv2d_small binds on every call
_TABLES: OrderedDict[tuple[tuple[int, ...], bytes], np.ndarray] = OrderedDict()
_TABLES_KEPT = 8
_TABLES_LOCK = threading.Lock()  # pipeline stages bind in threads of their own


@functools.cache
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
    for a in (at, g, bt):
        a.setflags(write=False)  # shared by every caller (cached)
    return at, g, bt


def _phases(w: np.ndarray, axis: int, even: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """Both phases of the taps along ``axis`` (7 taps: even 4 by F(4,4)'s or F(2,4)'s G, odd 3 by F(.,3)'s),
    transformed: a new leading axis of points, then one of the phases (the odd phase zero on the even
    phase's own last point)."""
    taps = np.moveaxis(w, axis, 0)
    out = np.zeros((even.shape[0], 2, *taps.shape[1:]))
    out[:, 0] = np.tensordot(even, taps[0::2], axes=(1, 0))
    out[:odd.shape[0], 1] = np.tensordot(odd, taps[1::2], axes=(1, 0))
    return out


def conv_tables(w: np.ndarray) -> np.ndarray:
    """The kernel's tables for HWIO weights [7][7][c][o], float32: B^T of both column phases ([2][7][7],
    F(4,4) then F(4,3) padded with zeros), B^T of both row phases ([2][5][5], F(2,4) then F(2,3)), then the
    weights' transforms U, a block for each pair of a row point vq and a column point q (vq-major), each
    block [row phase][column phase][c][o] over the phases that the two points have: 2 each for a shared
    point, 1 (the even phase) for a phase's own last point.

    Each G is applied in float64 and the result rounded once. The result is shared (read-only): the tables
    of the last few weights are kept by their bytes.
    """
    kh, kw, c, o = w.shape
    if (kh, kw) != (7, 7):
        raise ValueError(f"the Winograd conv takes 7x7 weights, not {kh}x{kw}")
    key = (w.shape, np.ascontiguousarray(w, np.float32).tobytes())
    with _TABLES_LOCK:
        if key in _TABLES:
            _TABLES.move_to_end(key)
            return _TABLES[key]
    tables = _conv_tables(w)
    tables.setflags(write=False)
    with _TABLES_LOCK:
        _TABLES[key] = tables
        if len(_TABLES) > _TABLES_KEPT:
            _TABLES.popitem(last=False)
    return tables


def _conv_tables(w: np.ndarray) -> np.ndarray:
    """conv_tables without the cache."""
    c, o = w.shape[2:]
    _, g4, bt4 = matrices(4, 4, ROW_POINTS)
    _, g3, bt3 = matrices(4, 3, ROW_POINTS[:6])
    _, gv4, btv4 = matrices(2, 4, COLUMN_POINTS)
    _, gv3, btv3 = matrices(2, 3, COLUMN_POINTS[:4])
    bt = np.zeros((2, 7, 7))
    bt[0], bt[1, :6, :6] = bt4, bt3
    btv = np.zeros((2, 5, 5))
    btv[0], btv[1, :4, :4] = btv4, btv3
    cols = _phases(w.astype(np.float64), 1, g4, g3)  # [q][hp][dy][c][o]
    both = _phases(cols, 2, gv4, gv3)  # [vq][vp][q][hp][c][o]
    blocks = [both[vq, :2 if vq < 4 else 1, q, :2 if q < 6 else 1].ravel()
              for vq in range(5) for q in range(7)]
    return np.concatenate([bt.ravel(), btv.ravel(), *blocks]).astype(np.float32)
