"""The pipeline contract: what a stage is, what a chain of stages means, and the one loop that runs a frame.

The runner, ``eval faces`` and the ``xnorvision.testing`` fixtures all run frames through :class:`Pipeline`,
so a threshold or chain rule cannot drift between them. This module sits low in the package (numpy and
:class:`Detections` only): the plugin records and the public API import it, never the other way round.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from xnorvision.detect._detections import Detections
from xnorvision.errors import PLUGIN_FAILURES, PluginError

if TYPE_CHECKING:
    from xnorvision.pipeline._profile import PipelineProfile

Role = Literal["detector", "verifier", "labeler"]
ROLES: tuple[Role, ...] = ("detector", "verifier", "labeler")


@runtime_checkable
class Stage(Protocol):
    """One step of a pipeline.

    It reads a BGR uint8 frame (as OpenCV gives it) and the detections of the previous stage (empty for the
    first) and returns detections. Its optional ``role`` says what it may change (see :class:`Pipeline`);
    without one it is a ``"detector"``.
    """

    name: str

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections: ...


@dataclass(frozen=True)
class PipelineOptions:
    """What the user chose on the command line, passed to a pipeline's ``build``.

    ``extra`` holds pipeline-specific options (``--set KEY=VALUE``), by name.
    """

    threshold: float = 0.5
    threads: int | None = None
    model: str | None = None  # a registered model name or a path, overriding the pipeline's default
    extra: dict[str, Any] = field(default_factory=dict)


class StageFailed(Exception):
    """A stage raised, or broke its role's rule, on one frame; ``cause`` is what went wrong."""

    def __init__(self, stage: Stage, cause: BaseException) -> None:
        super().__init__(f"stage {stage.name!r}: {type(cause).__name__}: {cause}")
        self.stage, self.cause = stage, cause


def stage_role(stage: Stage) -> Role:
    """The declared ``role`` of a stage (``"detector"`` if none); a bad one is the plugin's error."""
    role = getattr(stage, "role", "detector")
    if role not in ROLES:
        raise PluginError(f"stage {stage.name!r} declares role {role!r}; expected one of {', '.join(ROLES)}")
    return role


class Pipeline:
    """A chain of stages and the score threshold: the one definition of what a frame's detections are.

    Roles (a stage's ``role`` attribute) decide what a stage may change:

    - ``"detector"`` (the default) sees every candidate of the stage before it and returns any detections:
      it may add, move, drop and re-score boxes (a proposal stage, the faces crop classifier).
    - ``"verifier"`` sees every candidate and may re-score and re-label them; boxes stay as they were.
    - ``"labeler"`` sees only the boxes at or above the threshold (and is not called when there are none);
      it sets ``labels`` and ``top_k`` and never changes boxes or scores.

    The first stage always acts as a detector (there is nothing to verify or label yet), so an object
    classifier alone still labels the whole frame. Scores are probabilities in [0, 1]; the final
    detections are those scoring at least ``threshold`` (0 keeps all). ``threshold`` may be changed from
    another thread (the window's slider does) between frames.

    ``profile``: while a :class:`~xnorvision.pipeline._profile.PipelineProfile` is attached (``--profile``),
    every frame that succeeds adds where each stage's time went (its models by op kind, its named steps).
    """

    def __init__(self, stages: Sequence[Stage], threshold: float = 0.0) -> None:
        self.stages = list(stages)
        self.roles: list[Role] = [stage_role(s) for s in self.stages]
        self.threshold = threshold
        self.profile: PipelineProfile | None = None

    def run(self, frame: np.ndarray) -> tuple[Detections, dict[str, float]]:
        """One frame through every stage: its final detections and each stage's time in ms.

        Raises :class:`StageFailed` naming the stage when a stage raises or breaks its role's rule. A labeler
        skipped for want of boxes has no time entry.
        """
        threshold = self.threshold  # once per frame: the slider may move while the stages run
        profile = self.profile
        if profile is not None:
            profile.start_frame()
        detections = Detections.empty()
        latency: dict[str, float] = {}
        for i, (stage, role) in enumerate(zip(self.stages, self.roles, strict=True)):
            role = "detector" if i == 0 else role
            if role == "labeler":
                detections = _above(detections, threshold)
                if not len(detections):
                    continue
            t0 = time.perf_counter()
            try:
                if profile is None:
                    out = stage(frame, detections)
                else:
                    with profile.stage(stage.name):
                        out = stage(frame, detections)
                if not isinstance(out, Detections):
                    raise TypeError(f"returned {type(out).__name__}, not Detections")
                detections = _apply(role, detections, out)
            except PLUGIN_FAILURES as exc:  # a stage is plugin code: even sys.exit costs one frame
                raise StageFailed(stage, exc) from exc
            latency[stage.name] = (time.perf_counter() - t0) * 1e3
        if profile is not None:
            profile.end_frame(latency)
        return _above(detections, threshold), latency

    def detect(self, frame: np.ndarray) -> Detections:
        """The final detections of one frame (for callers that time the whole pipeline themselves)."""
        return self.run(frame)[0]


def _above(detections: Detections, threshold: float) -> Detections:
    if threshold <= 0 or not len(detections):
        return detections
    return detections.select(detections.scores >= threshold)


def _apply(role: Role, before: Detections, out: Detections) -> Detections:
    """What a stage of ``role`` may change: a detector anything, the others one entry per incoming box."""
    if role != "labeler":  # a labeler's scores are ignored; everyone else's are what --threshold filters
        _check_scores(out)
    if role == "detector":
        return out
    if len(out) != len(before):
        raise ValueError(f"a {role} must return one detection per incoming box: got {len(out)} for "
                         f"{len(before)}")
    if role == "verifier":
        return Detections(before.boxes, out.scores, out.labels, out.top_k or before.top_k)
    return Detections(before.boxes, before.scores, out.labels, out.top_k)


def _check_scores(out: Detections) -> None:
    """Scores are probabilities: a stage reporting logits (9.4) would defeat --threshold and the slider."""
    bad = out.scores[(out.scores < 0) | (out.scores > 1)]
    if len(bad):
        raise ValueError(f"returned score {float(bad[0]):.4g}; scores are probabilities in [0, 1] "
                         "(turn a model's logits into them with Model.probabilities)")
