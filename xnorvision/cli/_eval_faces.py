"""``xnorvision eval faces``: AP, max recall and ms/image of the faces pipeline and baselines side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import typer

from xnorvision._outputs import Named, check_outputs, check_writable
from xnorvision._replace import write_file
from xnorvision._tables import eval_faces_table
from xnorvision.cli._apps import eval_app, threads_option
from xnorvision.errors import XnorvisionError
from xnorvision.eval import _faces as ev
from xnorvision.eval._corruptions import parse_corruptions
from xnorvision.eval._faces_plot import plot_pr, plot_speed
from xnorvision.pipeline import Pipeline, PipelineProfile
from xnorvision.pipeline._profile import format_profile


def _check_writable(outputs: list[Named]) -> None:
    """Every output writable before the evaluation (minutes long) starts."""
    for flag, path in outputs:
        check_writable(flag, path)


def _sweep(spec: str | None) -> tuple[str, list[str]]:
    """``KEY=V1,V2,...`` into the key and its values (as text); none: one run as set."""
    if spec is None:
        return "", [""]
    key, sep, values = spec.partition("=")
    items = [v for v in values.split(",") if v]
    if not sep or not key or not items:
        raise XnorvisionError(f"--sweep takes KEY=V1,V2,... (e.g. long_side=320,416,480), got {spec!r}")
    if len(set(items)) != len(items):
        raise XnorvisionError(f"--sweep lists a value twice: {spec!r}")
    return key, items


def _pipeline(pipeline: str, floor: float, threads: int, model: str | None, settings: list[str]) -> Pipeline:
    """The registered pipeline (or chain): the same :class:`Pipeline` that ``run`` uses, at the floor as
    its threshold (a labeler in a chain sees the boxes that will be scored)."""
    from xnorvision.pipeline._launch import RunConfig, build_pipeline
    from xnorvision.plugins._manager import load_registry

    config = RunConfig(plugin=pipeline, model=model, threshold=floor, threads=threads, settings=settings)
    return build_pipeline(load_registry(), config)


def _ours(pipeline: str, floor: float, threads: int, model: str | None, settings: list[str],
          sweep: str | None) -> list[tuple[ev.Contender, Pipeline]]:
    """Our pipeline once per swept value: ``faces@320``... for ``long_side``, ``faces (KEY=V)`` otherwise.

    ``--set`` and ``--sweep`` values go through the pipeline's declared options, as ``run --set`` does:
    an unknown key or a bad value fails here, before any image is read.
    """
    from xnorvision.plugins import load_registry, parse_settings
    from xnorvision.plugins._options import split_settings

    registry = load_registry()
    names = [n.strip() for n in pipeline.split(",")]
    declared = {n: registry.pipeline(n).options for n in names}
    given = [k.rpartition(".")[2] for k in split_settings(settings)]
    key, values = _sweep(sweep)
    bare = key.rpartition(".")[2]
    out = []
    for value in values:
        run = [*settings, *([f"{key}={value}"] if key else [])]
        extra = {k: v for e in reversed(parse_settings(run, declared).values()) for k, v in e.items()}
        fixed = [f"{k}={extra[k]}" for k in given if k != bare]
        tag = " ".join(([Path(model).stem] if model else []) + fixed)
        if bare == "long_side":
            name, tags = f"{pipeline}@{extra[bare]}", tag
        else:
            name, tags = pipeline, " ".join(filter(None, [tag, f"{bare}={extra[bare]}" if key else ""]))
        long_side = extra.get("long_side")
        built = _pipeline(pipeline, floor, threads, model, run)
        out.append((ev.Contender(name + (f" ({tags})" if tags else ""), built.detect, pipeline,
                                 long_side if isinstance(long_side, int) else None), built))
    return out


def _check_paths(data: Path, images: list[ev.FaceImage], model: str | None, baselines: list[str],
                 outputs: list[Named]) -> None:
    """No output is the face list, one of its images, the model or a baseline's file, or another output."""
    from xnorvision.plugins._manager import load_registry

    inputs: list[Named] = [("--data", data)] + [("image", item.path) for item in images]
    inputs += [("--baseline", spec.partition(":")[2] or None) for spec in baselines]
    if model is not None:
        inputs.append(("--model", load_registry().resolve_model(model)))
    check_outputs(inputs, outputs)


_Opt = typer.Option


@eval_app.command("faces")
def eval_faces(
    data: Annotated[Path, _Opt("--data", help="List file: one line per image, `path x,y,w,h ...`.")],
    root: Annotated[Path, _Opt("--root", help="Folder the list's image paths are relative to.")],
    min_face: Annotated[float, _Opt("--min-face", min=0.0,
                                    help="Faces with a smaller long side are ignored.")] = 20.0,
    iou: Annotated[float, _Opt("--iou", help="IoU a detection needs to match a face.")] = 0.5,
    baseline: Annotated[list[str] | None, _Opt(
        "--baseline", help="KIND:PATH at the image's size, or KIND@LONG_SIDE:PATH (KIND: yunet, haar).")
    ] = None,
    json_path: Annotated[Path | None, _Opt("--json", help="Write {\"results\": [...], ...} here.")] = None,
    plot: Annotated[Path | None, _Opt("--plot", help="AP against ms/image, a line per family (PNG).")] = None,
    pr_plot: Annotated[Path | None, _Opt("--pr-plot", help="Precision-recall curves (PNG).")] = None,
    pipeline: Annotated[str, _Opt("--pipeline", help="Registered pipeline scored as ours.")] = "faces",
    model: Annotated[str | None, _Opt("--model", help="Model name or .xnv path for the pipeline.")] = None,
    settings: Annotated[list[str] | None, _Opt("--set", help="Pipeline option KEY=VALUE.")] = None,
    sweep: Annotated[str | None, _Opt(
        "--sweep", help="Run our pipeline once per value of one option, e.g. long_side=320,416,480.")] = None,
    baselines_only: Annotated[bool, _Opt("--baselines-only", help="Score only the baselines.")] = False,
    floor: Annotated[float, _Opt("--floor", help="Every detector's lowest score (caps max recall).")
                     ] = ev.FLOOR,
    threads: Annotated[int, threads_option("Threads for every detector (OpenCV and ours).")] = 2,
    split: Annotated[str, _Opt("--split", help=f"all, or tune: the last {ev.TUNE_IMAGES} images of the list "
                                "(of wider/train.txt: the training's held-out images; tune there).")
                     ] = "all",
    limit: Annotated[int, _Opt("--limit", help="Use only the first N images of the split (0: all).")] = 0,
    markdown: Annotated[Path | None, _Opt("--markdown", help="Write the table as Markdown here.")] = None,
    corrupt: Annotated[str | None, _Opt(
        "--corrupt", help="Also score degraded copies, e.g. gray,jpeg30,blur (robustness).")] = None,
    profile: Annotated[bool, _Opt("--profile", help="Where our pipeline's time goes on the clean images: "
                                  "per stage, model op kind and named step (also in --json).")] = False,
) -> None:
    """Score the faces pipeline and baselines on one labelled set, in one loop, under the same load."""
    if not 0.0 < iou <= 1.0:
        raise XnorvisionError(f"--iou must be in (0, 1], got {iou}")
    if not 0.0 <= floor < 1.0:
        raise XnorvisionError(f"--floor must be in [0, 1), got {floor}")
    if profile and baselines_only:
        raise XnorvisionError("--profile times our pipeline; --baselines-only runs none")
    listed = ev.load_face_list(data, root)
    outputs: list[Named] = [("--json", json_path), ("--plot", plot), ("--pr-plot", pr_plot),
                            ("--markdown", markdown)]
    _check_paths(data, listed, None if baselines_only else model, baseline or [], outputs)
    _check_writable(outputs)
    items = ev.select_split(listed, split)
    items = items[:limit] if limit > 0 else items
    cv2.setNumThreads(threads)
    ours = [] if baselines_only else _ours(pipeline, floor, threads, model, settings or [], sweep)
    contenders = [c for c, _ in ours] + [ev.baseline_detector(spec, floor) for spec in baseline or []]
    if not contenders:
        raise XnorvisionError("nothing to evaluate: --baselines-only needs at least one --baseline")
    ev.check_images(items)  # all of them now, not the first missing one minutes into the evaluation
    corruptions = ["none", *parse_corruptions(corrupt)]
    results: list[ev.FaceResult] = []
    profiles: list[dict[str, object]] = []
    for c in corruptions:
        profiled = profile and c == "none"  # the clean images, as the plots show them
        for _, built in ours:
            built.profile = PipelineProfile() if profiled else None
        results += ev.evaluate(contenders, items, min_face=min_face, iou_threshold=iou, floor=floor,
                               corruption=c)
        if profiled:
            profiles = [{"name": o.name, **built.profile.summary()} for o, built in ours if built.profile]
    typer.echo(f"{len(items)} images ({split}), faces >= {min_face:g} px, IoU {iou:g}, floor {floor:g}, "
               f"{threads} threads")
    typer.echo(f"{'name':<40} {'long side':>9} {'images':>7} {'AP':>6} {'max rec':>8} {'ms/img':>8}")
    for r in results:
        typer.echo(f"{r.name:<40} {r.long_side or '-':>9} {r.corruption:>7} {r.ap:>6.3f} "
                   f"{r.max_recall:>8.3f} {r.ms_per_image:>8.2f}")
    for p in profiles:
        typer.echo(f"\n{p['name']}: {format_profile(p)}")
    clean = [r for r in results if r.corruption == "none"]  # the plots show the images as they are
    if plot is not None:
        plot_speed(clean, plot)
        typer.echo(f"speed plot: {plot}")
    if pr_plot is not None:
        plot_pr(clean, pr_plot)
        typer.echo(f"PR plot: {pr_plot}")
    if json_path is not None:
        ev.write_json(results, json_path, data=str(data), split=split, images=len(items), min_face=min_face,
                      iou=iou, floor=floor, threads=threads, **({"profile": profiles} if profile else {}))
        typer.echo(f"JSON: {json_path}")
    if markdown is not None:
        table = eval_faces_table([{"results": [r.to_json() for r in results]}])
        write_file(markdown, (table + "\n").encode())
        typer.echo(f"Markdown: {markdown}")
