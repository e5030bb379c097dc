"""Recipe: train the crop classifier (face / not face, plus box refinement) on fixed, cached crops.

    OMP_NUM_THREADS=1 nice -n 10 python -m xnorvision_faces.training.train_classifier \\
        --faces ../shared/data/faces --proposal .cache/faces/proposal_xnor.pt \\
        --out .cache/faces/classifier_xnor.pt

Positives: Caltech face crops and jittered crops of WIDER train faces (these carry box targets). Negatives:
random squares of the face-free scenes, squares of WIDER train images away from every face, and (with
``--proposal``) the proposal net's own false positives on the scenes and WIDER train images: mined hard
negatives.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from xnorvision.api import box_iou, crop_square, replace_atomically
from xnorvision.train import data_hash
from xnorvision_faces.training.data import Sample, cache_files, load_scenes, load_wider_train
from xnorvision_faces.training.models import CROP, CROP_CONTEXT, FaceClassifier, ProposalNet
from xnorvision_faces.training.train_proposal import HOLDOUT, detect

MEAN, STD = 0.5, 0.25


def _face_crops(samples: list[Sample], rng: np.random.Generator, per_face: int) -> tuple[np.ndarray, ...]:
    crops, regs = [], []
    for s in samples:
        big = (s.boxes[:, 2:] - s.boxes[:, :2]).max(1) >= 14 if len(s.boxes) else []
        if not np.any(big):
            continue
        gray = cv2.cvtColor(s.image(), cv2.COLOR_BGR2GRAY)
        for (x1, y1, x2, y2), t in zip(s.boxes[big], s.targets[big], strict=True):
            if t < 1:
                continue
            for _ in range(per_face):
                side = CROP_CONTEXT * max(x2 - x1, y2 - y1) * rng.uniform(0.8, 1.25)
                cx = (x1 + x2) / 2 + rng.uniform(-0.12, 0.12) * side
                cy = (y1 + y2) / 2 + rng.uniform(-0.12, 0.12) * side
                crops.append(crop_square(gray, cx, cy, side, CROP))
                regs.append([(x1 - cx) / side + 0.5, (y1 - cy) / side + 0.5, (x2 - cx) / side + 0.5,
                             (y2 - cy) / side + 0.5])
    return np.stack(crops), np.asarray(regs, np.float32)


def _negatives(samples: list[Sample], scenes: list[Sample], rng: np.random.Generator, n: int,
               mined: list[np.ndarray]) -> np.ndarray:
    crops = list(mined)
    while len(crops) < n:
        pool = scenes if rng.random() < 0.5 else samples
        s = pool[int(rng.integers(len(pool)))]
        gray = cv2.cvtColor(s.image(), cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        for _ in range(8):
            side = float(np.exp(rng.uniform(np.log(16), np.log(min(h, w)))))
            cx, cy = rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2)
            sq = np.array([[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]], np.float32)
            if len(s.boxes) and box_iou(sq, s.boxes * np.float32(1)).max() >= 0.2:
                continue
            crops.append(crop_square(gray, cx, cy, side, CROP))
    return np.stack(crops[:n])


def _mine(model: ProposalNet, samples: list[Sample], limit: int) -> list[np.ndarray]:
    """Crops of the proposal net's confident boxes that overlap no face (GT or YuNet): hard negatives."""
    out: list[np.ndarray] = []
    for s in samples:
        image = s.image()
        boxes, scores = detect(model, image, threshold=0.2)
        if not len(boxes):
            continue
        far = box_iou(boxes, s.boxes).max(1) < 0.25 if len(s.boxes) else np.ones(len(boxes), bool)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        for x1, y1, x2, y2 in boxes[far][:10]:
            side = CROP_CONTEXT * max(x2 - x1, y2 - y1)
            out.append(crop_square(gray, (x1 + x2) / 2, (y1 + y2) / 2, side, CROP))
        if len(out) >= limit:
            break
    return out[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path(".cache/faces"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--proposal", type=Path, help="proposal checkpoint for hard-negative mining")
    ap.add_argument("--mode", choices=("xnor", "float"), default="xnor")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--pool-first", action="store_true", help="max-pool before the BWN layer (4x cheaper)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    wider = load_wider_train(args.faces, args.cache)[:-HOLDOUT]
    scenes = load_scenes(args.faces, args.cache)
    t0 = time.time()
    caltech = np.load(args.faces / "verifier" / "caltech_crops36.npz")["x"]
    caltech = np.stack([cv2.resize(c, (CROP, CROP), interpolation=cv2.INTER_AREA) for c in caltech])
    wider_pos, regs = _face_crops(wider, rng, per_face=2)
    mined: list[np.ndarray] = []
    if args.proposal:
        recipe = args.proposal.with_suffix(".json")
        prop = ProposalNet.from_recipe(json.loads(recipe.read_text()) if recipe.is_file() else {}).eval()
        prop.load_state_dict(torch.load(args.proposal, weights_only=True))
        mined = _mine(prop, scenes + wider, limit=8000)
    n_pos = len(caltech) + len(wider_pos)
    neg = _negatives(wider, scenes, rng, n_pos, mined)
    x = np.concatenate([caltech, wider_pos, neg])
    y = np.r_[np.ones(n_pos), np.zeros(len(neg))].astype(np.float32)
    reg = np.concatenate([np.zeros((len(caltech), 4)), regs, np.zeros((len(neg), 4))]).astype(np.float32)
    has_reg = np.r_[np.zeros(len(caltech)), np.ones(len(regs)), np.zeros(len(neg))].astype(bool)
    print(f"crops: {len(caltech)} caltech, {len(wider_pos)} wider, {len(neg)} negatives "
          f"({len(mined)} mined) in {time.time() - t0:.0f}s", flush=True)
    order = rng.permutation(len(x))
    n_val = len(x) // 10
    val, tr = order[:n_val], order[n_val:]
    xt = torch.from_numpy((x.astype(np.float32) / 255 - MEAN) / STD)[:, None]
    model = FaceClassifier(args.mode, args.width, args.pool_first)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    steps = args.epochs * (len(tr) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps, pct_start=0.05)
    for epoch in range(args.epochs):
        model.train()
        for b in np.array_split(rng.permutation(tr), len(tr) // 128):
            xb = xt[b]
            if rng.random() < 0.5:
                xb = xb.flip(3)  # a flipped face is a face; its box targets flip too
                rb = torch.from_numpy(reg[b][:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [1, 0, 1, 0]).float()
            else:
                rb = torch.from_numpy(reg[b])
            out = model(xb)
            loss = F.binary_cross_entropy_with_logits(out[:, 0], torch.from_numpy(y[b]))
            mask = torch.from_numpy(has_reg[b])
            if mask.any():
                loss = loss + 4 * F.smooth_l1_loss(out[mask, 1:], rb[mask], beta=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            pv = torch.sigmoid(model(xt[val])[:, 0]).numpy()
        acc = float(((pv >= 0.5) == (y[val] >= 0.5)).mean())
        print(f"epoch {epoch + 1} val accuracy {acc:.4f} {time.time() - t0:.0f}s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with replace_atomically(args.out) as file:
        torch.save(model.state_dict(), file)
    recipe = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    data = [*cache_files(args.cache), args.faces / "verifier" / "caltech_crops36.npz"]
    recipe.update(val_accuracy=round(acc, 4), crops=len(x), mined=len(mined), seconds=round(time.time() - t0),
                  data_hash=data_hash(data))
    args.out.with_suffix(".json").write_text(json.dumps(recipe, indent=2) + "\n")


if __name__ == "__main__":
    main()
