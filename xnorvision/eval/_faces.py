"""Face-detection accuracy and speed: VOC all-point AP at one IoU, with small faces as ignore regions.

Every detector (our pipeline and the OpenCV baselines) sees the same decoded images in the same loop, one
image at a time, in an order that rotates per image, so their ms/image are measured side by side under
the same machine load; every one is scored from the same score floor, which caps its max recall.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from xnorvision import kernels
from xnorvision._opencv import opencv_log_level, opencv_name, read_image
from xnorvision._replace import write_file
from xnorvision.detect import Detections, box_iou
from xnorvision.errors import XnorvisionError
from xnorvision.eval._corruptions import CORRUPTIONS

Detector = Callable[[np.ndarray], Detections]
"""A BGR uint8 frame in, face boxes with scores out."""

IGNORED, FALSE_POS, TRUE_POS = -1, 0, 1
#: Default score floor: every detector's boxes below it are dropped (low, so max recall is barely capped).
FLOOR = 0.05
#: The tuning split: the last this many images of a list. Of ``wider/train.txt`` these are the images the
#: faces training holds out (``HOLDOUT`` of its recipes), so choices are made there, not on val.
TUNE_IMAGES = 100


@dataclass(frozen=True)
class FaceImage:
    """One labelled image: its path and its ground-truth boxes as ``(N, 4)`` x1, y1, x2, y2."""

    path: Path
    boxes: np.ndarray


@dataclass(frozen=True)
class Contender:
    """A detector under test: its result name, its family (one line of the speed plot: ``faces``,
    ``yunet``, ``haar``) and the input long side it runs at (None: the image's own size, or the
    pipeline's default)."""

    name: str
    detect: Detector
    family: str
    long_side: int | None = None


@dataclass(frozen=True)
class FaceResult:
    """One detector's score on a data set; ``precision``/``recall`` trace its PR curve."""

    name: str
    ap: float
    max_recall: float
    ms_per_image: float
    precision: np.ndarray
    recall: np.ndarray
    family: str = ""
    long_side: int | None = None
    corruption: str = "none"

    def to_json(self) -> dict[str, float | str | int | None]:
        return {"name": self.name, "ap": round(self.ap, 4), "max_recall": round(self.max_recall, 4),
                "ms_per_image": round(self.ms_per_image, 2), "long_side": self.long_side,
                "family": self.family, "corruption": self.corruption}


#: Largest coordinate or side (px) a list may hold: far beyond any photo, and finite in float32.
MAX_COORD = 1e6


def load_face_list(list_file: str | Path, root: str | Path) -> list[FaceImage]:
    """Read ``relative/path.jpg x,y,w,h ...`` lines (the WIDER list format) into ``FaceImage`` records."""
    list_file, root = Path(list_file), Path(root)
    items = []
    for lineno, line in enumerate(_read_list(list_file).splitlines(), 1):
        parts = line.split()
        if parts:
            items.append(FaceImage(root / parts[0], _xyxy(_parse_boxes(parts[1:], f"{list_file}:{lineno}"))))
    if not items:
        raise XnorvisionError(f"face list is empty: {list_file}")
    return items


def check_images(items: Sequence[FaceImage]) -> None:
    """Every listed image a regular file: checked first, not found missing minutes into an evaluation."""
    missing = [item.path for item in items if not item.path.is_file()]
    if missing:
        raise XnorvisionError(f"{len(missing)} of {len(items)} listed images are missing or not files, "
                              f"e.g. {missing[0]}; is --root the folder the list's paths are relative to?")


def _read_list(list_file: Path) -> str:
    """The list's text; a missing, unreadable or non-UTF-8 file is one line."""
    if not list_file.is_file():
        raise XnorvisionError(f"face list not found: {list_file}")
    try:
        return list_file.read_text(encoding="utf-8")
    except PermissionError:
        raise XnorvisionError(f"{list_file}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise XnorvisionError(f"{list_file}: not UTF-8 text (byte {exc.start}); is it a face list?") from None


def _parse_boxes(fields: list[str], where: str) -> np.ndarray:
    """``x,y,w,h`` fields as an ``(N, 4)`` array: finite, not negative, at most :data:`MAX_COORD`."""
    try:
        xywh = np.array([[float(v) for v in f.split(",")] for f in fields], np.float64).reshape(-1, 4)
    except ValueError:
        raise XnorvisionError(f"{where}: boxes must be x,y,w,h numbers") from None
    bad = ~np.isfinite(xywh) | (xywh < 0) | (xywh > MAX_COORD)
    if bad.any():
        value = xywh[bad][0]
        raise XnorvisionError(f"{where}: box value {value:g} is not a pixel coordinate (0..{MAX_COORD:g})")
    return xywh.astype(np.float32)


SPLITS = ("all", "tune")


def select_split(items: Sequence[FaceImage], split: str) -> list[FaceImage]:
    """``all`` the images, or ``tune``: the last :data:`TUNE_IMAGES` of the list.

    Given ``wider/train.txt`` the tuning split is the faces training's held-out set: input sizes, score
    weights and thresholds are chosen on it, and WIDER val is scored once per release.
    """
    if split == "all":
        return list(items)
    if split != "tune":
        raise XnorvisionError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if len(items) <= TUNE_IMAGES:
        raise XnorvisionError(f"the tune split is the last {TUNE_IMAGES} images of a longer list "
                              f"(wider/train.txt); this list has {len(items)}")
    return list(items[-TUNE_IMAGES:])


def match_detections(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray,
                     gt_ignored: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Label each detection TRUE_POS, FALSE_POS or IGNORED (VOC greedy matching, best score first).

    A detection goes to the ground-truth box it overlaps most; at IoU >= threshold it is a true positive if
    that face is still unmatched, ignored if the face is an ignore region, and a duplicate (false
    positive) otherwise.
    """
    det_boxes = np.asarray(det_boxes, np.float32).reshape(-1, 4)
    flags = np.full(len(det_boxes), FALSE_POS, np.int8)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return flags
    ious = box_iou(det_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for i in np.argsort(-np.asarray(det_scores).reshape(-1), kind="stable"):
        j = int(np.argmax(ious[i]))
        if ious[i, j] < iou_threshold:
            continue
        if gt_ignored[j]:
            flags[i] = IGNORED
        elif not taken[j]:
            flags[i], taken[j] = TRUE_POS, True
    return flags


def precision_recall(scores: np.ndarray, flags: np.ndarray, n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """The PR curve over all detections ranked by score, ignored ones dropped."""
    keep = flags != IGNORED
    order = np.argsort(-np.asarray(scores)[keep], kind="stable")
    tp = (flags[keep][order] == TRUE_POS).astype(np.float64)
    ctp, cfp = np.cumsum(tp), np.cumsum(1.0 - tp)
    recall = ctp / max(n_faces, 1)
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    return precision, recall


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC all-point AP: area under the precision envelope (precision made non-increasing in recall)."""
    r = np.concatenate([[0.0], recall, [recall[-1] if len(recall) else 0.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def evaluate(contenders: Sequence[Contender], items: Sequence[FaceImage], min_face: float = 20.0,
             iou_threshold: float = 0.5, floor: float = FLOOR,
             progress: Callable[[int, int], None] | None = None, corruption: str = "none"
             ) -> list[FaceResult]:
    """Run every detector on every image (decoded once) and score each from ``floor`` up.

    ``corruption`` (a name of :data:`~xnorvision.eval._corruptions.CORRUPTIONS`) degrades every image first,
    the same way for every detector. Timing covers detection only. The detectors take turns per image,
    starting one later each image, so none always runs first (on cold caches) or last.
    """
    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise XnorvisionError(f"two detectors share a name: {', '.join(names)}")
    n = len(contenders)
    corrupt = None if corruption == "none" else CORRUPTIONS[corruption]
    scores: list[list[np.ndarray]] = [[] for _ in contenders]
    flags: list[list[np.ndarray]] = [[] for _ in contenders]
    seconds = [0.0] * n
    n_faces = 0
    for k, item in enumerate(items):
        image = read_image(item.path)
        if image is None:
            raise XnorvisionError(f"cannot read image: {item.path}")
        if corrupt is not None:
            image = corrupt(image)
        sides = item.boxes[:, 2:] - item.boxes[:, :2]
        ignored = sides.max(axis=1, initial=0.0) < min_face if len(sides) else np.zeros(0, bool)
        n_faces += int((~ignored).sum())
        for j in ((k + i) % n for i in range(n)):
            t0 = time.perf_counter()
            dets = contenders[j].detect(image)
            seconds[j] += time.perf_counter() - t0
            dets = dets.select(dets.scores >= floor)
            scores[j].append(dets.scores)
            flags[j].append(match_detections(dets.boxes, dets.scores, item.boxes, ignored, iou_threshold))
        if progress:
            progress(k + 1, len(items))
    results = []
    for j, c in enumerate(contenders):
        s, f = np.concatenate(scores[j] or [np.zeros(0)]), np.concatenate(flags[j] or [np.zeros(0)])
        precision, recall = precision_recall(s, f, n_faces)
        results.append(FaceResult(c.name, average_precision(precision, recall),
                                  float(recall[-1]) if len(recall) else 0.0,
                                  1000.0 * seconds[j] / max(len(items), 1), precision, recall,
                                  c.family, c.long_side, corruption))
    return results


def at_long_side(detect: Detector, long_side: int) -> Detector:
    """``detect`` run on the image resized to ``long_side`` (its longer side), boxes mapped back.

    The resize is timed with the detector, as our pipeline's own shrink is, so it must be as fast as we
    can make it: a shrink is :func:`kernels.area_shrink` (OpenCV's INTER_AREA to a grey level, the
    best-ranked faces for a baseline, ~6x faster at fractional scales: cv2's took ~1.4 ms of YuNet@416's
    time on a 640x480 image, so our ratio to it read 0.70x where the detectors' own times were far closer).
    """

    def run(image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        s = long_side / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        if size == (w, h):
            return detect(image)
        if size[0] <= w and size[1] <= h:
            small = kernels.area_shrink(image, size)
        else:
            small = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        dets = detect(small)
        back = np.array([w / size[0], h / size[1]] * 2, np.float32)
        return Detections(dets.boxes * back, dets.scores, dets.labels)

    return run


def yunet_detector(model_path: str | Path, floor: float = FLOOR) -> Detector:
    """OpenCV's float YuNet (``cv2.FaceDetectorYN``) at the size of the image it is given, from ``floor``."""
    path = _existing(model_path, "YuNet model")
    try:
        with opencv_log_level(cv2.utils.logging.LOG_LEVEL_ERROR):  # its "targets not supported" warning
            net = cv2.FaceDetectorYN.create(opencv_name(path), "", (320, 320), floor, 0.3, 5000)
    except cv2.error:
        raise XnorvisionError(f"cannot load YuNet model (not an ONNX face detector?): {path}") from None

    def detect(image: np.ndarray) -> Detections:
        net.setInputSize((image.shape[1], image.shape[0]))
        _, faces = net.detect(image)
        if faces is None:
            return Detections.empty()
        xywh = faces[:, :4]
        return Detections.from_boxes(_xyxy(xywh), faces[:, -1], "face")

    return detect


def haar_detector(cascade_path: str | Path, floor: float = FLOOR) -> Detector:
    """A Haar cascade (numpy, :mod:`faces_haar`); more neighbours in its cluster means a higher score.

    Its lowest score (one neighbour, 0.09) is above the default floor; ``evaluate`` applies the floor."""
    from xnorvision.eval._faces_haar import HaarCascade

    cascade = HaarCascade(_existing(cascade_path, "Haar cascade"))

    def detect(image: np.ndarray) -> Detections:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        boxes, neighbours = cascade.detect(gray)
        return Detections.from_boxes(boxes, neighbours / (neighbours + 10.0), "face")

    return detect


BASELINES: dict[str, Callable[[str, float], Detector]] = {"yunet": yunet_detector, "haar": haar_detector}


def baseline_detector(spec: str, floor: float = FLOOR) -> Contender:
    """Parse ``KIND:PATH`` (the image's own size) or ``KIND@LONG_SIDE:PATH`` (e.g. ``yunet@320:m.onnx``).

    Results are named ``KIND`` and ``KIND@LONG_SIDE``.
    """
    head, sep, path = spec.partition(":")
    kind, at, side = head.partition("@")
    if not sep or kind not in BASELINES or not path or (at and not side.isdigit()):
        raise XnorvisionError(f"baseline must be KIND:PATH or KIND@LONG_SIDE:PATH, KIND one of "
                              f"{sorted(BASELINES)}; got {spec!r}")
    if at and not 16 <= int(side) <= 8192:
        raise XnorvisionError(f"baseline long side must be 16..8192, got {side} in {spec!r}")
    detect = BASELINES[kind](path, floor)
    if not at:
        return Contender(kind, detect, kind)
    return Contender(f"{kind}@{side}", at_long_side(detect, int(side)), kind, int(side))


def write_json(results: Sequence[FaceResult], path: str | Path, **settings: object) -> None:
    """``{"results": [...], **settings}``: the settings (images, floor, threads...) say what was run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"results": [r.to_json() for r in results], **settings}
    write_file(path, (json.dumps(doc, indent=2, default=str) + "\n").encode())


def _xyxy(xywh: np.ndarray) -> np.ndarray:
    xywh = np.asarray(xywh, np.float32).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise XnorvisionError(f"{what} not found: {path}")
    return path
