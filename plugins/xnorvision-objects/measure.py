"""Regenerate MODEL_CARD.md's tables: accuracy by ``xnorvision eval classify``, speed by ``bench model``.

    python measure.py --data ../shared/data/cifar10/train_4.npz [--ablation runs/NAME/model.xnv ...]

Runs the project's own commands (so the numbers are the ones a user reproduces), keeps their JSON reports
under ``--work`` and rewrites the text between the ``<!-- results -->`` markers of MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
MODELS = ["cifar10-float", "cifar10-bwn", "cifar10-xnor"]


def _run(args: list[str]) -> None:
    print("$ xnorvision " + " ".join(args), file=sys.stderr)
    cli = [sys.executable, "-c", "from xnorvision.cli import main; main()"]
    subprocess.run([*cli, *args], check=True, stdout=subprocess.DEVNULL)


def _eval(model: str, data: Path, work: Path, last: int, tag: str) -> dict:
    out = work / f"eval-{tag}.json"
    _run(["eval", "classify", "--model", model, "--data", str(data), "--last", str(last), "--threads", "1",
          "--json", str(out), "--confusion", str(work / f"confusion-{tag}.png")])
    return json.loads(out.read_text())


def _bench(model: str, work: Path, seconds: float) -> dict:
    path = HERE / "xnorvision_objects" / "models" / f"{model}.xnv"
    out = work / f"bench-{model}.json"
    _run(["bench", "model", str(path), "--threads", "1", "--batch", "1", "--seconds", str(seconds),
          "--json", str(out)])
    return json.loads(out.read_text())


def _recipe(path: Path) -> dict:
    """The recipe recorded in a model file's metadata (read with the runtime's own loader)."""
    from xnorvision.api import Model

    return Model.load(path, threads=1).metadata


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="train_4.npz (its last --last images validate)")
    ap.add_argument("--last", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--ablation", type=Path, nargs="*", default=[], help="more .xnv files to compare")
    ap.add_argument("--work", type=Path, default=Path("out/objects-card"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    rows = ["| model | recipe | epochs | top-1 (eval classify) | file KB | images/s ours | "
            "images/s torch float32 | speed-up |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name in MODELS:
        path = HERE / "xnorvision_objects" / "models" / f"{name}.xnv"
        ev, meta = _eval(name, args.data, args.work, args.last, name), _recipe(path)
        bench = _bench(name, args.work, args.seconds)
        ours = next(r for r in bench["runtimes"] if r["name"] == "xnorvision")
        torch_ = next(r for r in bench["runtimes"] if r["name"] == "torch-float32")
        r = meta["recipe"]
        rows.append(f"| `{name}` | `{r['name']}` (width {r['width']}) | {meta['epochs_done']} | "
                    f"{ev['top1']:.4f} | {path.stat().st_size / 1024:.0f} | {ours['images_per_s']:.0f} | "
                    f"{torch_['images_per_s']:.0f} | {bench['speedup_vs_torch_float32']:.1f}x |")
    abl = ["| run | targets | refinery | epochs | top-1 (eval classify) |", "|---|---|---|---:|---:|"]
    for path in [HERE / "xnorvision_objects" / "models" / "cifar10-xnor.xnv", *args.ablation]:
        meta = _recipe(path)
        r = meta["recipe"]
        ev = _eval(str(path), args.data, args.work, args.last, f"ablation-{r['name']}")
        refinery = r["refinery"] if r["target"] != "labels" else "-"
        epochs = meta["epochs_done"]
        abl.append(f"| `{r['name']}` | {r['target']} | {refinery} | {epochs} | {ev['top1']:.4f} |")
    title = ("Label refinement and distillation (XNOR from scratch, same net and schedule; compare rows of "
             "equal epochs):")
    text = "\n".join(rows) + f"\n\n{title}\n\n" + "\n".join(abl)
    card = HERE / "MODEL_CARD.md"
    body = card.read_text()
    block = f"<!-- results -->\n{text}\n<!-- /results -->"
    new = re.sub(r"<!-- results -->.*<!-- /results -->", lambda _: block, body, flags=re.S)
    card.write_text(new)
    print(text)


if __name__ == "__main__":
    main()
