"""``xnorvision eval faces``: AP, max recall and ms/image of the faces pipeline and baselines side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import typer

from xnorvision._writable import check_writable
from xnorvision.cli._apps import eval_app
from xnorvision.detect import Detections
from xnorvision.errors import XnorvisionError
from xnorvision.eval import faces as ev


def _extra(settings: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs for ``PipelineOptions.extra``; values are JSON where they parse (false, 256)."""
    extra: dict[str, Any] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise XnorvisionError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    return extra


def _check_outputs(json_path: Path | None, plot: Path | None, markdown: Path | None) -> None:
    """Every output writable before the evaluation (minutes long) starts."""
    for flag, path in (("--json", json_path), ("--plot", plot), ("--markdown", markdown)):
        check_writable(flag, path)


def _pipeline_detector(name: str, threshold: float, threads: int, model: str | None,
                       extra: dict[str, Any]) -> ev.Detector:
    """The registered pipeline as one callable: its stages in order, then the score threshold."""
    from xnorvision.pipeline.launch import RunConfig, build_stages
    from xnorvision.plugins._manager import load_registry

    config = RunConfig(plugin=name, model=model, threshold=threshold, threads=threads, extra=extra)
    stages = build_stages(load_registry(), config)  # as `run` builds them: a plugin's failure is one line

    def detect(frame: np.ndarray) -> Detections:
        dets = Detections.empty()
        for stage in stages:
            dets = stage(frame, dets)
        return dets.select(dets.scores >= threshold)

    return detect


_Opt = typer.Option
DEFAULT_PLOT = Path("out/eval/faces_pr.png")


@eval_app.command("faces")
def eval_faces(
    data: Annotated[Path, _Opt("--data", help="List file: one line per image, `path x,y,w,h ...`.")],
    root: Annotated[Path, _Opt("--root", help="Folder the list's image paths are relative to.")],
    min_face: Annotated[float, _Opt("--min-face", min=0.0,
                                    help="Faces with a smaller long side are ignored.")] = 20.0,
    iou: Annotated[float, _Opt("--iou", help="IoU a detection needs to match a face.")] = 0.5,
    baseline: Annotated[list[str] | None, _Opt("--baseline", help="yunet:PATH or haar:PATH")] = None,
    json_path: Annotated[Path | None, _Opt("--json", help="Write {\"results\": [...]} here.")] = None,
    plot: Annotated[Path, _Opt("--plot", help="Precision-recall plot (PNG).")] = DEFAULT_PLOT,
    pipeline: Annotated[str, _Opt("--pipeline", help="Registered pipeline scored as ours.")] = "faces",
    model: Annotated[str | None, _Opt("--model", help="Model name or .xnv path for the pipeline.")] = None,
    settings: Annotated[list[str] | None, _Opt("--set", help="Pipeline option KEY=VALUE.")] = None,
    baselines_only: Annotated[bool, _Opt("--baselines-only", help="Score only the baselines.")] = False,
    threshold: Annotated[float, _Opt("--threshold", min=0.0, max=1.0,
                                      help="Lowest score of our pipeline's boxes.")] = 0.05,
    threads: Annotated[int, _Opt("--threads", help="Threads for every detector (OpenCV and ours).")] = 2,
    limit: Annotated[int, _Opt("--limit", help="Use only the first N images (0: all).")] = 0,
    markdown: Annotated[Path | None, _Opt("--markdown", help="Write the table as Markdown here.")] = None,
) -> None:
    """Score the faces pipeline and baselines on one labelled set, in one loop, under the same load."""
    if not 0.0 < iou <= 1.0:
        raise XnorvisionError(f"--iou must be in (0, 1], got {iou}")
    _check_outputs(json_path, plot, markdown)
    cv2.setNumThreads(threads)
    items = ev.load_face_list(data, root)
    items = items[:limit] if limit > 0 else items
    detectors: dict[str, ev.Detector] = {}
    if not baselines_only:
        extra = _extra(settings or [])
        tag = " ".join(([Path(model).stem] if model else []) + [f"{k}={v}" for k, v in extra.items()])
        name = f"{pipeline} ({tag})" if tag else pipeline
        detectors[name] = _pipeline_detector(pipeline, threshold, threads, model, extra)
    for spec in baseline or []:
        name, det = ev.baseline_detector(spec)
        detectors[name] = det
    if not detectors:
        raise XnorvisionError("nothing to evaluate: --baselines-only needs at least one --baseline")
    results = ev.evaluate(detectors, items, min_face=min_face, iou_threshold=iou)
    typer.echo(f"{len(items)} images, faces >= {min_face:g} px, IoU {iou:g}, {threads} threads")
    typer.echo(f"{'name':<40} {'AP':>6} {'max rec':>8} {'ms/img':>8}")
    for r in results:
        typer.echo(f"{r.name:<40} {r.ap:>6.3f} {r.max_recall:>8.3f} {r.ms_per_image:>8.2f}")
    ev.plot_pr(results, plot)
    typer.echo(f"PR plot: {plot}")
    if json_path is not None:
        ev.write_json(results, json_path)
        typer.echo(f"JSON: {json_path}")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(ev.markdown_table(results))
        typer.echo(f"Markdown: {markdown}")
