"""``xnorvision eval classify``: top-1, per-class accuracy, confusion matrix and images/s of a classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import cv2
import typer
from typer import Option as Opt

from xnorvision._outputs import check_outputs, check_writable
from xnorvision.cli._apps import eval_app
from xnorvision.errors import XnorvisionError


@eval_app.command("classify")
def eval_classify(
    model: Annotated[str, Opt("--model", help="Registered model name (cifar10-xnor...) or .xnv path.")],
    data: Annotated[Path, Opt("--data", help="JPEG chunk file (.npz: jpeg, offsets, y).")],
    last: Annotated[int | None, Opt("--last", min=1, help="Only the last N images (held out).")] = None,
    json_path: Annotated[Path | None, Opt("--json", help="Write the full report as JSON here.")] = None,
    confusion: Annotated[Path | None, Opt("--confusion", help="Confusion-matrix PNG.")] = None,
    batch: Annotated[int, Opt("--batch", min=1, help="Images per runtime call.")] = 100,
    threads: Annotated[int | None, Opt("--threads", min=1, help="Runtime threads.")] = None,
) -> None:
    """Score a classifier on labelled images with the runtime (no torch)."""
    import numpy as np

    from xnorvision.api import Model, resolve_model
    from xnorvision.eval.classify import confusion_image, evaluate_classifier, read_jpeg_chunk
    from xnorvision.plugins import load_registry

    path = resolve_model(model, load_registry())
    check_outputs([("--model", path), ("--data", data)], [("--json", json_path), ("--confusion", confusion)])
    check_writable("--json", json_path)
    check_writable("--confusion", confusion)
    net = Model.load(path, threads=threads)
    images, labels = read_jpeg_chunk(data, start=-last if last else 0)
    report = evaluate_classifier(net, images, labels, labels_names=net.labels, batch=batch,
                                 model_name=model, data_name=f"{data}" + (f" (last {last})" if last else ""))
    typer.echo(f"{model}: top-1 {report.top1:.4f} on {report.images} images, "
               f"{report.images_per_s:.0f} images/s (batch {batch}, {net.threads} threads)")
    for name, acc in report.per_class.items():
        typer.echo(f"  {name:>12s} {acc:.4f}")
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_dict() | {"file": str(path)}, indent=1))
    if confusion is not None:
        names = net.labels or [str(i) for i in range(len(report.confusion))]
        img = confusion_image(np.asarray(report.confusion), names)
        if not cv2.imwrite(str(confusion), img):
            raise XnorvisionError(f"cannot write {confusion}")
        typer.echo(f"wrote {confusion}")
