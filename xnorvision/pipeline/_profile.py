"""``--profile``: where a pipeline's time goes, per stage and step, as medians over the frames it ran.

:class:`Pipeline` hands each stage's run to :meth:`PipelineProfile.stage` while a profile is attached; the
stage needs to do nothing. Its rows are the time inside each model it ran, by op kind (each op's
``work``, the kinds ``bench model --profile`` uses), the steps it names with ``api.timed`` (the faces
stages: shrink, decode, crops, NMS), and ``other``: the rest of the stage's measured time.

Each row's figure is its median over the frames (a frame where it did not run counts 0 ms), as ``bench
model --profile`` takes medians: on a shared machine a frame preempted in one step would otherwise add
its whole wait to that step. Medians need not add up to the frame's median; shares are of the latter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from xnorvision._profiling import Row, Span, recording

#: frames kept (the latest): a camera left running for hours keeps a bounded profile
PROFILE_WINDOW = 10_000
OTHER = "other"  # the stage's own time that no model run and no named step covers

Frame = dict[str, tuple[float, dict[Row, float]]]  # stage -> (its ms, its rows' ms)


class PipelineProfile:
    """The per-frame times of every stage and step, collected while attached to a :class:`Pipeline`."""

    def __init__(self, window: int = PROFILE_WINDOW) -> None:
        self.frames: deque[Frame] = deque(maxlen=window)
        self._pending: dict[str, dict[Row, float]] = {}

    def start_frame(self) -> None:
        self._pending = {}  # what a failed frame left is dropped

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Record what runs inside the block (models, named steps) as stage ``name``'s rows."""
        with recording(Span()) as span:
            yield
        self._pending[name] = span.seconds

    def end_frame(self, latency: dict[str, float]) -> None:
        """The frame's stage times (ms, as :meth:`Pipeline.run` measured them) complete its record."""
        self.frames.append({name: (ms, {row: 1e3 * s for row, s in self._pending.get(name, {}).items()})
                            for name, ms in latency.items()})

    def summary(self) -> dict[str, Any]:
        """Medians per frame: the frame, each stage, each row of a stage (JSON-ready)."""
        frames = list(self.frames)
        n = len(frames)
        frame_ms = _median([sum(ms for ms, _ in f.values()) for f in frames])
        stages: dict[str, dict[Row, None]] = {}
        for f in frames:
            for name, (_, rows) in f.items():
                stages.setdefault(name, {}).update(dict.fromkeys(rows))
        out = []
        for name, rows in stages.items():
            ran = [f[name] for f in frames if name in f]
            steps = [_row(step, model, [r[model, step] for _, r in ran if (model, step) in r], n, frame_ms)
                     for model, step in rows]
            steps.append(_row(OTHER, "", [ms - sum(r.values()) for ms, r in ran], n, frame_ms))
            out.append({**_row(name, "", [ms for ms, _ in ran], n, frame_ms), "steps": steps})
        return {"frames": n, "frame_ms": round(frame_ms, 4), "stages": out}


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else 0.0


def _row(name: str, model: str, values: list[float], frames: int, frame_ms: float) -> dict[str, Any]:
    """One row: the median of ``values`` over all ``frames`` (those it has no value for count 0 ms)."""
    ms = _median(values + [0.0] * (frames - len(values)))
    row: dict[str, Any] = {"name": name, **({"model": model} if model else {})}
    return {**row, "ms": round(ms, 4), "share": round(ms / frame_ms, 4) if frame_ms > 0 else 0.0,
            "frames": len(values)}


def profile_rows(summary: dict[str, Any]) -> Iterator[str]:
    """``| stage | step | ms | share | frames |`` Markdown rows: a row per stage, then a row per step of it
    (what ``run --profile`` prints and ``xnorvision tables`` writes from ``eval faces --json``)."""
    for stage in summary["stages"]:
        yield (f"| {stage['name']} | (all) | {stage['ms']:.3f} | {100 * stage['share']:.1f}% "
               f"| {stage['frames']} |")
        for step in stage["steps"]:
            what = f"{step['model']}: {step['name']}" if "model" in step else step["name"]
            yield f"| | {what} | {step['ms']:.3f} | {100 * step['share']:.1f}% | {step['frames']} |"


PROFILE_HEADER = ["| stage | step | ms | share | frames |", "|---|---|---:|---:|---:|"]


def format_profile(summary: dict[str, Any]) -> str:
    """The profile as one Markdown table: a row per stage, then a row per step of it."""
    lines = [f"profile: {summary['frames']} frames, {summary['frame_ms']:.3f} ms per frame (medians; a "
             "frame where a step did not run counts 0 ms, so rows need not add up)", "", *PROFILE_HEADER]
    return "\n".join(lines + list(profile_rows(summary)))
