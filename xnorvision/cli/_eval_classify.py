"""``xnorvision eval classify``: top-1, per-class accuracy, confusion matrix and images/s of a classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from typer import Option as Opt

from xnorvision._opencv import encode_image
from xnorvision._outputs import check_outputs, check_writable
from xnorvision._replace import write_file
from xnorvision.cli._apps import eval_app, threads_option


@eval_app.command("classify")
def eval_classify(
    model: Annotated[str, Opt("--model", help="Registered model name (cifar10-xnor...) or .xnv path.")],
    data: Annotated[Path, Opt("--data", help="Image folder (one sub-folder per class) or JPEG chunk "
                                             "file (.npz: jpeg, offsets, y; classes.txt beside it names the "
                                             "classes).")],
    labels: Annotated[str | None, Opt("--labels", help="Map model labels to the data's classes: "
                                      "MODEL=DATA,... (only mapped classes are scored).")] = None,
    last: Annotated[int | None, Opt("--last", min=1, help="Only the last N images (held out).")] = None,
    json_path: Annotated[Path | None, Opt("--json", help="Write the full report as JSON here.")] = None,
    confusion: Annotated[Path | None, Opt("--confusion", help="Confusion-matrix PNG.")] = None,
    batch: Annotated[int, Opt("--batch", min=1, help="Images per runtime call.")] = 100,
    threads: Annotated[int | None, threads_option("Runtime threads.")] = None,
) -> None:
    """Score a classifier on labelled images with the runtime (no torch).

    The model's labels must match the data's classes by name (any order), or be mapped with --labels.
    """
    import numpy as np

    from xnorvision.api import Model, resolve_model
    from xnorvision.eval._classify import confusion_image, evaluate_classifier, read_labelled
    from xnorvision.eval._labels import align_labels, parse_label_map
    from xnorvision.plugins import load_registry

    path = resolve_model(model, load_registry())
    check_outputs([("--model", path), ("--data", data)], [("--json", json_path), ("--confusion", confusion)])
    check_writable("--json", json_path)
    check_writable("--confusion", confusion)
    net = Model.load(path, threads=threads)
    images, truth, classes = read_labelled(data, last, net.fit_image)  # photos fitted as read, not held
    outputs = int(net(images[:1]).shape[-1])
    aligned = align_labels(net.labels, outputs, classes, truth, parse_label_map(labels) if labels else None)
    kept = images[aligned.keep] if isinstance(images, np.ndarray) else [
        images[i] for i in np.flatnonzero(aligned.keep)]
    report = evaluate_classifier(net, kept, aligned.truth, labels_names=aligned.names, batch=batch,
                                 model_name=model, data_name=f"{data}" + (f" (last {last})" if last else ""))
    typer.echo(f"{model}: top-1 {report.top1:.4f} on {report.images} images, "
               f"{report.images_per_s:.0f} images/s (batch {batch}, {net.threads} threads)")
    for name, acc in report.per_class.items():
        typer.echo(f"  {name:>12s} {acc:.4f}")
    if json_path is not None:
        write_file(json_path, json.dumps(report.to_dict() | {"file": str(path)}, indent=1).encode())
    if confusion is not None:
        img = confusion_image(np.asarray(report.confusion), aligned.names)
        write_file(confusion, encode_image(confusion, img))
        typer.echo(f"wrote {confusion}")
