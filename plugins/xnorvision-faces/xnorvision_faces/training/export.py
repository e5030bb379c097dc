"""Export the trained face networks to ``.xnv`` files (the plugin's package data), recipes as metadata.

    python -m xnorvision_faces.training.export --proposal .cache/faces/proposal_xnor.pt \\
        --classifier .cache/faces/classifier_xnor.pt --out plugins/xnorvision-faces/xnorvision_faces/models

Either network may be exported alone (a new proposal net is scored with the shipped classifier first).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from xnorvision.train import export_model
from xnorvision_faces.training.models import CROP, FaceClassifier, ProposalNet
from xnorvision_faces.training.train_classifier import MEAN as CLS_MEAN
from xnorvision_faces.training.train_classifier import STD as CLS_STD
from xnorvision_faces.training.train_proposal import MEAN, STD

PROPOSAL_SPEC = {"height": None, "width": None, "channels": 3, "channel_order": "rgb", "mean": list(MEAN),
                 "std": list(STD)}
CLASSIFIER_SPEC = {"height": CROP, "width": CROP, "channels": 1, "channel_order": "gray", "mean": [CLS_MEAN],
                   "std": [CLS_STD]}


def _recipe(checkpoint: Path) -> dict:
    side = checkpoint.with_suffix(".json")
    return json.loads(side.read_text()) if side.is_file() else {}


def export_faces(proposal: Path | None, classifier: Path | None, out: Path) -> list[Path]:
    """Write ``proposal.xnv`` (outputs s8, s16, s32), ``classifier.xnv`` (output ``face``) or both into
    ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if proposal is not None:
        rp = _recipe(proposal)
        p = ProposalNet.from_recipe(rp).eval()
        p.load_state_dict(torch.load(proposal, weights_only=True))
        meta = {"recipe": rp, "module": "xnorvision_faces.training.train_proposal"}
        export_model(p, out / "proposal.xnv", PROPOSAL_SPEC, ["face"], meta, ["s8", "s16", "s32"])
        written.append(out / "proposal.xnv")
    if classifier is not None:
        rc = _recipe(classifier)
        c = FaceClassifier(rc.get("mode", "xnor"), rc.get("width", 32), rc.get("pool_first", False)).eval()
        c.load_state_dict(torch.load(classifier, weights_only=True))
        meta = {"recipe": rc, "module": "xnorvision_faces.training.train_classifier"}
        # a face logit and 4 box offsets: ClassifierStage decodes them
        export_model(c, out / "classifier.xnv", CLASSIFIER_SPEC, ["face"], meta, ["face"],
                     output_kinds={"face": "raw"})
        written.append(out / "classifier.xnv")
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proposal", type=Path)
    ap.add_argument("--classifier", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.proposal is None and args.classifier is None:
        ap.error("give --proposal, --classifier or both")
    for path in export_faces(args.proposal, args.classifier, args.out):
        print(f"{path}: {path.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
