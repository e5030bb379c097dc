"""Pictures of an ``eval faces`` run, drawn with OpenCV (no matplotlib at run time).

``plot_speed`` is the one a user should see first: AP against ms/image, one line per detector family,
each point labelled with its input long side (better is up and to the left). ``plot_pr`` draws the
precision-recall curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from xnorvision._opencv import encode_image
from xnorvision._replace import write_file
from xnorvision.eval._faces import FaceResult

_COLOURS = [(200, 80, 0), (0, 140, 255), (60, 160, 60), (180, 0, 180), (0, 0, 200), (120, 120, 0)]
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MARGIN = 50


def _axes(size: int, legend_lines: int, x_ticks: Sequence[tuple[float, str]], x_label: str,
          y_label: str) -> tuple[np.ndarray, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """A white canvas with a unit-square plot area, its grid and labels, and the map from unit
    coordinates (x right, y up) to pixels."""
    canvas = np.full((size + 2 * _MARGIN + 20 * legend_lines, size + 2 * _MARGIN, 3), 255, np.uint8)
    ox, oy = _MARGIN, _MARGIN + size

    def to_px(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.stack([ox + np.asarray(x) * size, oy - np.asarray(y) * size], -1).round().astype(np.int32)

    for t, text in x_ticks:
        cv2.line(canvas, (int(ox + t * size), oy), (int(ox + t * size), oy - size), (230, 230, 230), 1)
        cv2.putText(canvas, text, (int(ox + t * size) - 10, oy + 18), _FONT, 0.4, 0, 1)
    for t in np.linspace(0, 1, 6):
        cv2.line(canvas, (ox, int(oy - t * size)), (ox + size, int(oy - t * size)), (230, 230, 230), 1)
        cv2.putText(canvas, f"{t:.1f}", (ox - 30, int(oy - t * size) + 4), _FONT, 0.4, 0, 1)
    cv2.rectangle(canvas, (ox, oy - size), (ox + size, oy), (0, 0, 0), 1)
    cv2.putText(canvas, x_label, (ox + size // 2 - 4 * len(x_label), oy + 38), _FONT, 0.5, 0, 1)
    cv2.putText(canvas, y_label, (6, _MARGIN - 14), _FONT, 0.5, 0, 1)
    return canvas, to_px


def _legend(canvas: np.ndarray, size: int, i: int, colour: tuple[int, int, int], label: str) -> None:
    y = _MARGIN + size + 62 + 20 * i  # the legend sits under the axes, one line per entry
    cv2.line(canvas, (_MARGIN, y - 4), (_MARGIN + 20, y - 4), colour, 2)
    cv2.putText(canvas, label, (_MARGIN + 26, y), _FONT, 0.4, 0, 1, cv2.LINE_AA)


def _write(canvas: np.ndarray, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, encode_image(path, canvas))


def plot_pr(results: Sequence[FaceResult], path: str | Path, size: int = 480) -> None:
    """The precision-recall curve of each detector, as a PNG."""
    ticks = [(t, f"{t:.1f}") for t in np.linspace(0, 1, 6)]
    canvas, to_px = _axes(size, len(results), ticks, "recall", "precision")
    for i, res in enumerate(results):
        colour = _COLOURS[i % len(_COLOURS)]
        if len(res.recall):
            pts = to_px(np.r_[0.0, res.recall], np.r_[res.precision[0], res.precision])
            cv2.polylines(canvas, [pts], False, colour, 2, cv2.LINE_AA)
        _legend(canvas, size, i, colour, f"{res.name}  AP {res.ap:.3f}  {res.ms_per_image:.1f} ms")
    _write(canvas, path)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-3-5-7 steps between ``lo`` and ``hi``."""
    out = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        out += [m * 10.0 ** k for m in (1, 2, 3, 5, 7) if lo <= m * 10.0 ** k <= hi]
    return out


def plot_speed(results: Sequence[FaceResult], path: str | Path, size: int = 480) -> None:
    """AP against ms/image (log scale), one line per family through its input sizes, as a PNG."""
    ms = np.array([max(r.ms_per_image, 1e-3) for r in results])
    lo, hi = ms.min() / 1.5, ms.max() * 1.5
    span = math.log10(hi / lo)

    def unit(v: np.ndarray | float) -> np.ndarray:
        return np.log10(np.asarray(v) / lo) / span

    ticks = [(float(unit(t)), f"{t:g}") for t in _log_ticks(lo, hi)]
    families = list(dict.fromkeys(r.family or r.name for r in results))
    canvas, to_px = _axes(size, len(families), ticks, "ms / image", "AP")
    for i, family in enumerate(families):
        colour = _COLOURS[i % len(_COLOURS)]
        members = sorted((r for r in results if (r.family or r.name) == family), key=lambda r: r.ms_per_image)
        pts = to_px(unit([max(r.ms_per_image, 1e-3) for r in members]), np.array([r.ap for r in members]))
        cv2.polylines(canvas, [pts], False, colour, 2, cv2.LINE_AA)
        for (x, y), r in zip(pts, members, strict=True):
            cv2.circle(canvas, (int(x), int(y)), 4, colour, -1, cv2.LINE_AA)
            label = str(r.long_side or "native")
            cv2.putText(canvas, label, (int(x) + 6, int(y) - 6), _FONT, 0.35, colour, 1, cv2.LINE_AA)
        best = max(members, key=lambda r: r.ap)
        _legend(canvas, size, i, colour, f"{family}  (best AP {best.ap:.3f} at {best.ms_per_image:.1f} ms)")
    _write(canvas, path)
