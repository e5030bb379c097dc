"""Recipe: train the proposal net on WIDER train crops (GT + YuNet soft labels) and face-free scenes.

    OMP_NUM_THREADS=1 nice -n 10 python -m xnorvision_faces.training.train_proposal \\
        --faces ../shared/data/faces --out .cache/faces/proposal_xnor.pt --mode xnor --steps 3000

Loss: quality focal loss on the per-cell face score (soft targets), smooth L1 on centre offset and log size.
The last ``HOLDOUT`` train images are kept out of training and scored at the end (never ``val.txt``): the
tuning split, which ``xnorvision eval faces --data .../wider/train.txt --split tune`` scores too.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from xnorvision.api import (
    TUNE_IMAGES,
    Detections,
    FaceImage,
    average_precision,
    match_detections,
    nms,
    precision_recall,
    replace_atomically,
)
from xnorvision.train import data_hash
from xnorvision_faces.training.data import (
    NO_DEGRADE,
    Degrade,
    Sample,
    augment,
    cache_files,
    load_scenes,
    load_wider_train,
)
from xnorvision_faces.training.models import BLOCKS, LEVELS, ProposalNet
from xnorvision_faces.training.targets import decode, encode

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
HOLDOUT = TUNE_IMAGES  # the images `eval faces --split tune` scores
INPUT_LONG_SIDE = 320


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """BGR uint8 NHWC -> normalised RGB NCHW float, exactly as the runtime's input spec does it."""
    x = torch.from_numpy(images[..., ::-1].astype(np.float32) / 255.0)
    x = (x - torch.tensor(MEAN)) / torch.tensor(STD)
    return x.permute(0, 3, 1, 2).contiguous()


def batch(samples: list[Sample], scenes: list[Sample], rng: np.random.Generator, n: int, size: int,
          scene_rate: float, corrupt: Degrade = NO_DEGRADE
          ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, ...]]]:
    images, levels = [], []
    for _ in range(n):
        pool = scenes if rng.random() < scene_rate else samples
        image, boxes, targets = augment(pool[int(rng.integers(len(pool)))], rng, size, (160.0, 560.0),
                                        corrupt)
        images.append(image)
        levels.append(encode(boxes, targets, size))
    stacked = [tuple(torch.from_numpy(np.stack([lv[k][j] for lv in levels])) for j in range(3))
               for k in range(len(LEVELS))]
    return to_tensor(np.stack(images)), stacked


def loss_fn(outputs: tuple[torch.Tensor, ...], targets: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    cls_loss = reg_loss = torch.zeros(())
    npos = sum(float((t[0] > 0).sum()) for t in targets)
    for out, (cls, weight, reg) in zip(outputs, targets, strict=True):
        logit = out[:, 0]
        p = torch.sigmoid(logit)
        bce = F.binary_cross_entropy_with_logits(logit, cls, reduction="none")
        cls_loss = cls_loss + (bce * (cls - p).abs().pow(2) * weight).sum()
        pos = cls > 0
        if pos.any():
            diff = F.smooth_l1_loss(out[:, 1:].permute(0, 2, 3, 1)[pos], reg.permute(0, 2, 3, 1)[pos],
                                    reduction="none", beta=0.2).sum(1)
            reg_loss = reg_loss + (diff * cls[pos]).sum()
    return (cls_loss + reg_loss) / max(npos, 1.0)


@torch.no_grad()
def detect(model: ProposalNet, image: np.ndarray, long_side: int = INPUT_LONG_SIDE,
           threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and scores on one BGR image, resized to ``long_side`` and padded to a multiple of 32."""
    s = long_side / max(image.shape[:2])
    small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    canvas = np.zeros((math.ceil(h / 32) * 32, math.ceil(w / 32) * 32, 3), np.uint8)
    canvas[:h, :w] = small
    outs = model(to_tensor(canvas[None]))
    all_boxes, all_scores = [], []
    for out, (stride, _, _) in zip(outs, LEVELS, strict=True):
        o = out[0].numpy()
        boxes, logits = decode(o[0], o[1:], stride)
        scores = 1 / (1 + np.exp(-logits))
        keep = scores >= threshold
        all_boxes.append(boxes[keep] / s)
        all_scores.append(scores[keep])
    boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
    keep = nms(boxes, scores, 0.4, max_out=300)
    return boxes[keep], scores[keep]


def holdout_ap(model: ProposalNet, samples: list[Sample], scale: float = 448 / 640, gray: bool = False
               ) -> float:
    """AP (faces >= 20 px of the original image, IoU 0.5) on held-out train images (or grey copies)."""
    model.eval()
    items, cache = [], {}
    for i, s in enumerate(samples):
        items.append(FaceImage(Path(f"holdout/{i}"), s.labelled().boxes))
        image = s.image()
        if gray:
            image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        cache[i] = image
    scores, flags, n_faces = [], [], 0
    for i, item in enumerate(items):
        boxes, sc = detect(model, cache[i])
        sides = (item.boxes[:, 2:] - item.boxes[:, :2]).max(1, initial=0) if len(item.boxes) else np.zeros(0)
        ignored = sides < 20 * scale
        n_faces += int((~ignored).sum())
        dets = Detections.from_boxes(boxes, sc, "face")
        scores.append(dets.scores)
        flags.append(match_detections(dets.boxes, dets.scores, item.boxes, ignored, 0.5))
    p, r = precision_recall(np.concatenate(scores), np.concatenate(flags), n_faces)
    model.train()
    return average_precision(p, r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, required=True, help="../shared/data/faces")
    ap.add_argument("--cache", type=Path, default=Path(".cache/faces"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mode", choices=("xnor", "float"), default="xnor")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--blocks", type=_blocks, default=list(BLOCKS),
                    help="binary blocks at strides 8,16,32 (default 2,2,1)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=Path,
                    help="start from this checkpoint (a second cycle; a shallower net grows into --blocks)")
    ap.add_argument("--gray", type=float, default=0.0, help="share of crops made grey")
    ap.add_argument("--colour", type=float, default=0.0, help="share of crops recoloured")
    ap.add_argument("--jpeg", type=float, default=0.0, help="share of crops JPEG-compressed (q 20-70)")
    ap.add_argument("--blur", type=float, default=0.0, help="share of crops halved and scaled back")
    ap.add_argument("--no-teacher", action="store_true",
                    help="WIDER's boxes only, without YuNet's extra faces (the distillation ablation)")
    ap.add_argument("--save-every", type=int, default=200, help="steps between resumable checkpoints")
    ap.add_argument("--resume", action="store_true", help="continue from OUT's .state.pt exactly")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    corrupt = Degrade(args.gray, args.colour, args.jpeg, args.blur)
    wider = load_wider_train(args.faces, args.cache)
    train, held = wider[:-HOLDOUT], wider[-HOLDOUT:]
    if args.no_teacher:
        train = [s.labelled() for s in train]
    scenes = load_scenes(args.faces, args.cache)
    model = ProposalNet(args.mode, args.width, tuple(args.blocks))
    if args.init:
        model.grow_from(torch.load(args.init, weights_only=True))
        args.init_recipe = json.loads(args.init.with_suffix(".json").read_text())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.05)
    state_path = args.out.with_suffix(".state.pt")
    start, spent, running = 1, 0.0, 0.0
    if args.resume:
        start, spent, running = _load_state(state_path, model, opt, sched, rng)
        print(f"resumed at step {start} ({spent:.0f} s spent)", flush=True)
    t0 = time.time() - spent
    for step in range(start, args.steps + 1):
        x, targets = batch(train, scenes, rng, args.batch, args.size, scene_rate=0.1, corrupt=corrupt)
        loss = loss_fn(model(x), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            print(f"step {step} loss {running:.4f} {time.time() - t0:.0f}s", flush=True)
        if step % args.save_every == 0 or step == args.steps:
            _save_state(state_path, model, opt, sched, rng, step + 1, time.time() - t0, running)
            _atomic_save(model.state_dict(), args.out)
    ap_held, ap_gray = holdout_ap(model, held), holdout_ap(model, held, gray=True)
    print(f"holdout AP {ap_held:.4f}, on grey copies {ap_gray:.4f}", flush=True)
    recipe = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    recipe.update(holdout_ap=round(ap_held, 4), holdout_ap_gray=round(ap_gray, 4),
                  seconds=round(time.time() - t0), data_hash=data_hash(cache_files(args.cache)))
    args.out.with_suffix(".json").write_text(json.dumps(recipe, indent=2) + "\n")


def _blocks(text: str) -> list[int]:
    """``--blocks 3,3,2``: three counts of at least 1."""
    try:
        counts = [int(v) for v in text.split(",")]
    except ValueError:
        counts = []
    if len(counts) != 3 or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"three counts of at least 1, like 2,2,1; got {text!r}")
    return counts


def _atomic_save(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replace_atomically(path) as file:
        torch.save(obj, file)


def _save_state(path: Path, model: ProposalNet, opt: torch.optim.Optimizer, sched: object,
                rng: np.random.Generator, next_step: int, spent: float, running: float) -> None:
    """Everything a run needs to go on as if never stopped: weights, optimiser, schedule, both RNGs."""
    _atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                  "torch_rng": torch.get_rng_state(), "numpy_rng": json.dumps(rng.bit_generator.state),
                  "next_step": next_step, "spent": spent, "running": running}, path)


def _load_state(path: Path, model: ProposalNet, opt: torch.optim.Optimizer, sched: object,
                rng: np.random.Generator) -> tuple[int, float, float]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    torch.set_rng_state(state["torch_rng"])
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    return int(state["next_step"]), float(state["spent"]), float(state["running"])


if __name__ == "__main__":
    main()
