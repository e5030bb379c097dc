"""``xnorvision model info``, ``reference`` and ``convert``: inspect, create and re-store .xnv files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from xnorvision._outputs import check_outputs
from xnorvision.cli._apps import FLOAT_STORAGE_HELP, MAX_SEED, model_app
from xnorvision.runtime import Model, load_xnv, save_model
from xnorvision.runtime._reference import REFERENCES, write_reference


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.2f} MB"


def _count(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f}M" if n >= 1e5 else str(n)


def format_info(info: dict[str, Any]) -> str:
    """The info dict as a layer table under a short summary."""
    spec, p, macs = info["input"], info["params"], info["macs"]
    size = f"{spec['height']}x{spec['width']}" if spec["height"] else "any size"
    lines = [
        f"input      {size}x{spec['channels']} {spec['channel_order']}  "
        f"mean {spec['mean']}  std {spec['std']}",
        f"outputs    {', '.join(info['outputs'])}  ({info['labels']} labels)",
        f"params     {_count(p['total'])} ({_count(p['binary'])} binary, {_count(p['float'])} float)",
        "MACs       " + ("? (give --height/--width)" if macs is None else
                         f"{_count(macs['total'])} ({_count(macs['binary'])} binary, {_count(macs['bwn'])} "
                         f"binary-weight, {_count(macs['float'])} float)"),
        f"weights    {_mb(info['weight_bytes'])} (float32 would be {_mb(info['float32_weight_bytes'])}); "
        f"file {_mb(info['file_bytes'])}",
        f"peak activations {_mb(info['peak_activation_bytes'])} per image",
        "",
        f"{'layer':<20} {'op':<16} {'output':<24} {'params':>9} {'MACs':>9}",
    ]
    for lay in info["layers"]:
        lines.append(f"{lay['name']:<20} {lay['op']:<16} {lay['output']:<24} {_count(lay['params']):>9} "
                     f"{_count(lay['macs']):>9}")
    if info["metadata"]:
        lines += ["", "metadata   " + json.dumps(info["metadata"])]
    return "\n".join(lines)


@model_app.command("info")
def info(
    model: Annotated[str, typer.Argument(help="A registered model name (cifar10-xnor...) or .xnv path.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    height: Annotated[int | None, typer.Option(help="Input height for an any-size model's MACs.")] = None,
    width: Annotated[int | None, typer.Option(help="Input width for an any-size model's MACs.")] = None,
) -> None:
    """Validate a model file and show its layers, parameters, MACs, sizes and metadata."""
    from xnorvision.plugins import load_registry, resolve_model

    net = Model.load(resolve_model(model, load_registry()), threads=1)
    summary = net.info(height, width if width is not None else height)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_info(summary))


@model_app.command("reference")
def reference(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(REFERENCES)}.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the .xnv file.")],
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the random weights.")] = 0,
    float_storage: Annotated[str, typer.Option("--float-storage", help=FLOAT_STORAGE_HELP)] = "float32",
) -> None:
    """Write a reference network with random weights (a fixture for tests and benchmarks)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    path = write_reference(name, out, seed, float_storage)
    typer.echo(f"wrote {name} to {path} ({path.stat().st_size / 1e6:.2f} MB)")


@model_app.command("convert")
def convert(
    path: Annotated[Path, typer.Argument(help="An .xnv model file.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the re-stored model.")],
    float_storage: Annotated[str, typer.Option("--float-storage", help=FLOAT_STORAGE_HELP)] = "int8",
) -> None:
    """Write a model again with another float storage (same graph, labels and metadata)."""
    check_outputs([("model", path)], [("--out", out)])  # int8 storage is lossy: never over the original
    f = load_xnv(path)
    save_model(out, f.graph, f.tensors, f.input_spec, f.labels, f.metadata, float_storage)
    typer.echo(f"wrote {out} ({f.nbytes} -> {out.stat().st_size} bytes, float weights as {float_storage})")
