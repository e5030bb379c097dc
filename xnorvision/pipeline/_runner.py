"""The runner: one loop that takes frames from the capture thread, runs the pipeline, feeds the sinks.

What a frame's detections are (stages, chain rule, threshold) is :class:`Pipeline`'s job; each stage is
timed on its own. A stage that raises costs one frame (logged, counted) unless ``strict``.
Ctrl-C, SIGTERM and SIGHUP (when run on the main thread; see :mod:`.stop_signals`) and :meth:`Runner.stop`
end the loop between frames, and the source and every sink are always closed (each even after another
fails), so saved files are complete and hold exactly the frames counted. A sink that fails to write stops
the run, and its error is raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from xnorvision.errors import XnorvisionError
from xnorvision.pipeline._capture import CaptureThread, Frame
from xnorvision.pipeline._contract import Pipeline, Stage, StageFailed
from xnorvision.pipeline._result import FrameResult
from xnorvision.pipeline._sinks import Sink
from xnorvision.pipeline._sources import Source
from xnorvision.pipeline._stop_signals import handle_stop_signals

log = logging.getLogger(__name__)
LATENCY_WINDOW = 100_000  # percentiles cover the most recent frames, so memory stays bounded
LOGGED_ERRORS_PER_STAGE = 5


class StageError(XnorvisionError):
    """A stage raised and ``--strict`` asked to stop."""


@dataclass
class Summary:
    """What a run did: printed at the end and available as JSON."""

    frames: int = 0
    errors: int = 0
    dropped: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    skipped: int = 0  # frames the source could not decode (also in ``errors``)
    stage_ms: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (p50, p95)
    stage_errors: dict[str, int] = field(default_factory=dict)
    stage_frames: dict[str, int] = field(default_factory=dict)  # name -> frames it ran on (labelers: fewer)

    @property
    def all_failed(self) -> bool:
        """Frames came in and a stage failed on every one: the run produced nothing."""
        return self.frames == 0 and self.errors > 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        head = (f"{self.frames} frames in {self.seconds:.2f} s ({self.fps:.1f} FPS), {self.errors} errors, "
                f"{self.dropped} dropped" + (", interrupted" if self.interrupted else ""))
        lines = [head] + [self._stage_line(name, a, b) for name, (a, b) in self.stage_ms.items()]
        if self.skipped:
            lines.append(f"  source: {self.skipped} frames could not be decoded and were skipped")
        return "\n".join(lines)

    def _stage_line(self, name: str, p50: float, p95: float) -> str:
        """A stage's timing, and on how many frames when fewer than all (a labeler skips frames without
        boxes above the threshold: "p50 0.00 ms" would claim it ran for free)."""
        ran, errors = self.stage_frames.get(name, 0), self.stage_errors.get(name, 0)
        if ran == 0:
            timing = "ran on no frame"
        else:
            timing = f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"
            timing += f" on {ran} of {self.frames} frames" if ran < self.frames else ""
        return f"  {name}: {timing}, {errors} errors"


class Runner:
    """Run ``pipeline`` (a :class:`Pipeline`, or its stages) over ``source`` into ``sinks``.

    ``drop_frames`` defaults to the source being live. ``threshold`` (the pipeline's), ``paused`` and
    :meth:`stop` may be changed from another thread (the window does) while :meth:`run` works.
    """

    def __init__(
        self,
        source: Source,
        pipeline: Pipeline | Sequence[Stage],
        sinks: Iterable[Sink] = (),
        *,
        drop_frames: bool | None = None,
        strict: bool = False,
        max_frames: int | None = None,
        threshold: float | None = None,
    ) -> None:
        self.source = source
        if not isinstance(pipeline, Pipeline):
            pipeline = Pipeline(pipeline)
        self.pipeline = pipeline
        if threshold is not None:
            pipeline.threshold = threshold
        self.sinks = list(sinks)
        self.drop_frames = source.live if drop_frames is None else drop_frames
        self.strict = strict
        self.max_frames = max_frames
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._latency: dict[str, deque[float]] = {s.name: deque(maxlen=LATENCY_WINDOW) for s in self.stages}
        self.summary = Summary(stage_errors={s.name: 0 for s in self.stages})

    @property
    def stages(self) -> list[Stage]:
        return self.pipeline.stages

    @property
    def threshold(self) -> float:
        return self.pipeline.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.pipeline.threshold = value

    def stop(self) -> None:
        self._stop.set()

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        """First Ctrl-C (or SIGTERM, SIGHUP): finish the current frame, then stop. A second one interrupts
        at once."""
        if self.summary.interrupted:
            raise KeyboardInterrupt
        self.summary.interrupted = True
        self._stop.set()

    def run(self) -> Summary:
        with handle_stop_signals(self._on_stop_signal):
            return self._run()

    def _run(self) -> Summary:
        capture = CaptureThread(self.source, self.drop_frames).start()
        start = time.perf_counter()
        interval: float | None = None  # smoothed seconds per frame, for the live FPS overlay
        last = start
        try:
            while not self._stop.is_set():
                if self._reached_max():
                    break
                if self.paused.is_set():
                    time.sleep(0.02)
                    continue
                frame = capture.next()
                if frame is None:
                    if capture.finished:
                        break
                    continue
                result = self._process(frame)
                now = time.perf_counter()
                interval, last = _ema(interval, now - last), now
                if result is not None:
                    self._emit(replace(result, fps=1.0 / max(interval, 1e-6)))
        except KeyboardInterrupt:
            self.summary.interrupted = True
        finally:
            self.summary.seconds = time.perf_counter() - start
            self.summary.dropped = capture.dropped
            failure = self._close_all(capture)
            self.summary.skipped = capture.skipped  # final: the capture thread has stopped
            self.summary.errors += capture.skipped
            self.summary.stage_ms = {name: _p50_p95(v) for name, v in self._latency.items()}
        if failure is not None:  # only when the run itself did not raise first
            raise failure
        return self.summary

    def _reached_max(self) -> bool:
        return self.max_frames is not None and self.summary.frames + self.summary.errors >= self.max_frames

    def _process(self, frame: Frame) -> FrameResult | None:
        try:
            detections, latency = self.pipeline.run(frame.image)
        except StageFailed as failure:
            self._stage_failed(failure.stage, frame, failure.cause)
            return None
        for name, ms in latency.items():
            self._latency[name].append(ms)
            self.summary.stage_frames[name] = self.summary.stage_frames.get(name, 0) + 1
        self.summary.frames += 1
        return FrameResult(frame.index, frame.timestamp, frame.image, detections, latency)

    def _stage_failed(self, stage: Stage, frame: Frame, exc: BaseException) -> None:
        self.summary.errors += 1
        count = self.summary.stage_errors[stage.name] = self.summary.stage_errors[stage.name] + 1
        message = f"stage {stage.name!r} failed on frame {frame.index}: {type(exc).__name__}: {exc}"
        if self.strict:
            raise StageError(message + " (--strict stops on the first error)") from exc
        if count <= LOGGED_ERRORS_PER_STAGE:
            more = " (further errors of this stage go unlogged)" if count == LOGGED_ERRORS_PER_STAGE else ""
            log.warning("%s; frame skipped%s", message, more)

    def _emit(self, result: FrameResult) -> None:
        for sink in self.sinks:
            sink.write(result)

    def _close_all(self, capture: CaptureThread) -> Exception | None:
        """Stop the capture (it closes the source), then close every sink, each even after another failed
        (a plugin source's ``close`` too); the first failure is returned for the caller to raise."""
        failure: Exception | None = None
        for close in [capture.stop, *(sink.close for sink in self.sinks)]:
            try:
                close()
            except Exception as exc:
                failure = failure or exc
        return failure


def _ema(prev: float | None, value: float, alpha: float = 0.1) -> float:
    return value if prev is None else (1 - alpha) * prev + alpha * value


def _p50_p95(values: deque[float]) -> tuple[float, float]:
    if not values:
        return (0.0, 0.0)
    p50, p95 = np.percentile(np.fromiter(values, np.float64, len(values)), [50, 95])
    return float(p50), float(p95)
