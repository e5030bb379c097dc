"""Training data for the face networks: WIDER train images with GT and YuNet soft labels, face-free scenes.

Images are cached once as JPEG bytes at long side 448 (``.cache/faces/``, gitignored) so a training run
decodes small files instead of the originals. Nothing here touches ``wider/val.txt``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from xnorvision.api import box_iou, load_face_list, replace_atomically

CACHE_SIDE = 448
EXCLUDED_SCENES = {"market_outdoor_sun_bnshngjecrewktzn.jpg"}  # it has people in it
TEACHER_MAX = np.float32(0.999)  # a teacher box's target stays below a WIDER box's 1


def cache_files(cache: Path) -> list[Path]:
    """The cached samples :func:`load_wider_train` and :func:`load_scenes` read (after they have run): every
    training image and label as a run reads them, what its recipe's ``data_hash`` is taken over."""
    return [cache / "wider_train.npz", cache / "scenes.npz"]


@dataclass
class Sample:
    """One cached image: JPEG bytes, boxes ``(N, 4)`` xyxy in its pixels, and a target per box in (0, 1]."""

    jpeg: np.ndarray
    boxes: np.ndarray
    targets: np.ndarray

    def image(self) -> np.ndarray:
        return cv2.imdecode(self.jpeg, cv2.IMREAD_COLOR)

    def labelled(self) -> Sample:
        """Only WIDER's own boxes (target 1): the teacher's extra faces dropped, for a run without it."""
        keep = self.targets >= 1.0
        return Sample(self.jpeg, self.boxes[keep], self.targets[keep])


def _encode(image: np.ndarray) -> tuple[np.ndarray, float]:
    scale = CACHE_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    else:
        scale = 1.0
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.reshape(-1), scale


def _soft_boxes(gt: np.ndarray, yunet: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """GT boxes at target 1; YuNet faces that no GT box covers join at their score, kept below 1 so that a
    target of 1 always means a WIDER box (distillation; :meth:`Sample.labelled` drops them again)."""
    if not yunet:
        return gt, np.ones(len(gt), np.float32)
    y = np.asarray(yunet, np.float32)
    yb = np.concatenate([y[:, :2], y[:, :2] + y[:, 2:4]], 1)
    extra = box_iou(yb, gt).max(axis=1) < 0.4 if len(gt) else np.ones(len(yb), bool)
    boxes = np.concatenate([gt, yb[extra]])
    return boxes, np.concatenate([np.ones(len(gt), np.float32), np.minimum(y[extra, 4], TEACHER_MAX)])


def _pack(samples: list[Sample], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replace_atomically(path) as file:
        np.savez(file, jpeg=np.concatenate([s.jpeg for s in samples]),
                 offsets=np.cumsum([0] + [len(s.jpeg) for s in samples]),
                 boxes=np.concatenate([s.boxes for s in samples] + [np.zeros((0, 4), np.float32)]),
                 targets=np.concatenate([s.targets for s in samples] + [np.zeros(0, np.float32)]),
                 counts=np.array([len(s.boxes) for s in samples]))


def _unpack(path: Path) -> list[Sample]:
    with np.load(path) as d:  # read each array once: NpzFile decompresses on every item access
        jpeg, o, boxes, targets = d["jpeg"], d["offsets"], d["boxes"], d["targets"]
        c = np.cumsum(np.r_[0, d["counts"]])
    return [Sample(jpeg[o[i]:o[i + 1]], boxes[c[i]:c[i + 1]], targets[c[i]:c[i + 1]])
            for i in range(len(o) - 1)]


def load_wider_train(faces_root: Path, cache: Path) -> list[Sample]:
    """WIDER train images (``wider/train.txt``) with GT + YuNet soft labels, cached on first use."""
    path = cache / "wider_train.npz"
    if path.is_file():
        return _unpack(path)
    yunet = {}
    with open(faces_root / "yunet_pseudolabels.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            yunet[rec["path"]] = rec["yunet"]
    samples = []
    for item in load_face_list(faces_root / "wider" / "train.txt", faces_root):
        jpeg, scale = _encode(cv2.imread(str(item.path), cv2.IMREAD_COLOR))
        rel = str(item.path.relative_to(faces_root))
        boxes, targets = _soft_boxes(item.boxes, yunet.get(rel, []))
        samples.append(Sample(jpeg, (boxes * scale).astype(np.float32), targets))
    _pack(samples, path)
    return samples


def load_scenes(faces_root: Path, cache: Path) -> list[Sample]:
    """Face-free scenes (no boxes): negatives for both networks."""
    path = cache / "scenes.npz"
    if path.is_file():
        return _unpack(path)
    samples = []
    for p in sorted((faces_root / "verifier" / "nonface_scenes").glob("*.jpg")):
        if p.name not in EXCLUDED_SCENES:
            jpeg, _ = _encode(cv2.imread(str(p), cv2.IMREAD_COLOR))
            samples.append(Sample(jpeg, np.zeros((0, 4), np.float32), np.zeros(0, np.float32)))
    _pack(samples, path)
    return samples


@dataclass(frozen=True)
class Degrade:
    """How often a training crop is made grey, recoloured, JPEG-compressed or blurred.

    WIDER's colour photos taught the first nets colour, not faces: on grey copies of val their AP fell by a
    third. These are the corruptions a camera or a scan brings (and the robustness test applies).
    """

    gray: float = 0.0
    colour: float = 0.0
    jpeg: float = 0.0
    blur: float = 0.0


def degrade(image: np.ndarray, rng: np.random.Generator, d: Degrade) -> np.ndarray:
    """Apply each corruption of ``d`` with its probability (BGR uint8 in and out)."""
    if d.colour and rng.random() < d.colour:  # per-channel gains and a saturation change
        f = image.astype(np.float32)
        grey = f.mean(axis=2, keepdims=True)
        f = grey + (f - grey) * rng.uniform(0.3, 1.5)
        image = np.clip(f * rng.uniform(0.8, 1.2, 3).astype(np.float32), 0, 255).astype(np.uint8)
    if d.gray and rng.random() < d.gray:
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if d.blur and rng.random() < d.blur:  # half resolution, then back up: a soft, low-detail frame
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(w // 2, 1), max(h // 2, 1)), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if d.jpeg and rng.random() < d.jpeg:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 70))])
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else image
    return image


NO_DEGRADE = Degrade()


def augment(sample: Sample, rng: np.random.Generator, size: int, long_side: tuple[float, float],
            corrupt: Degrade = NO_DEGRADE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random ``size`` x ``size`` BGR crop at a random scale (long side in ``long_side``), maybe flipped.

    Small long sides put whole images (and so their large faces) inside one crop.
    """
    image = sample.image()
    target_long = float(np.exp(rng.uniform(np.log(long_side[0]), np.log(long_side[1]))))
    s = target_long / max(image.shape[:2])
    image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    boxes = sample.boxes * s
    h, w = image.shape[:2]
    x0 = int(rng.integers(0, max(w - size, 0) + 1))
    y0 = int(rng.integers(0, max(h - size, 0) + 1))
    canvas = np.zeros((size, size, 3), np.uint8)
    crop = image[y0:y0 + size, x0:x0 + size]
    canvas[:crop.shape[0], :crop.shape[1]] = crop
    boxes = boxes - np.array([x0, y0, x0, y0], np.float32)
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1].copy()
        boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1)
    alpha, beta = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
    canvas = np.clip(canvas.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)
    canvas = degrade(canvas, rng, corrupt)
    # Keep boxes whose centre stays in the crop, whole: a face cut by the border still has its full box.
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    keep = (c >= 0).all(1) & (c < size).all(1)
    return canvas, boxes[keep], sample.targets[keep]
