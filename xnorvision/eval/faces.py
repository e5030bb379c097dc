"""Face-detection accuracy and speed: VOC all-point AP at one IoU, with small faces as ignore regions.

Every detector (our pipeline and the OpenCV baselines) sees the same decoded images in the same loop, one
image at a time, so their ms/image are measured side by side under the same machine load.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from xnorvision._opencv import opencv_log_level
from xnorvision.detect import Detections, box_iou
from xnorvision.errors import XnorvisionError

Detector = Callable[[np.ndarray], Detections]
"""A BGR uint8 frame in, face boxes with scores out."""

IGNORED, FALSE_POS, TRUE_POS = -1, 0, 1


@dataclass(frozen=True)
class FaceImage:
    """One labelled image: its path and its ground-truth boxes as ``(N, 4)`` x1, y1, x2, y2."""

    path: Path
    boxes: np.ndarray


@dataclass(frozen=True)
class FaceResult:
    """One detector's score on a data set; ``precision``/``recall`` trace its PR curve."""

    name: str
    ap: float
    max_recall: float
    ms_per_image: float
    precision: np.ndarray
    recall: np.ndarray

    def to_json(self) -> dict[str, float | str]:
        return {"name": self.name, "ap": round(self.ap, 4), "max_recall": round(self.max_recall, 4),
                "ms_per_image": round(self.ms_per_image, 2)}


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


def evaluate(detectors: dict[str, Detector], items: Sequence[FaceImage], min_face: float = 20.0,
             iou_threshold: float = 0.5,
             progress: Callable[[int, int], None] | None = None) -> list[FaceResult]:
    """Run every detector on every image (decoded once) and score each; timing covers detection only."""
    scores: dict[str, list[np.ndarray]] = {name: [] for name in detectors}
    flags: dict[str, list[np.ndarray]] = {name: [] for name in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    n_faces = 0
    for k, item in enumerate(items):
        image = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if image is None:
            raise XnorvisionError(f"cannot read image: {item.path}")
        sides = item.boxes[:, 2:] - item.boxes[:, :2]
        ignored = sides.max(axis=1, initial=0.0) < min_face if len(sides) else np.zeros(0, bool)
        n_faces += int((~ignored).sum())
        for name, detect in detectors.items():
            t0 = time.perf_counter()
            dets = detect(image)
            seconds[name] += time.perf_counter() - t0
            scores[name].append(dets.scores)
            flags[name].append(match_detections(dets.boxes, dets.scores, item.boxes, ignored, iou_threshold))
        if progress:
            progress(k + 1, len(items))
    results = []
    for name in detectors:
        s, f = np.concatenate(scores[name] or [np.zeros(0)]), np.concatenate(flags[name] or [np.zeros(0)])
        precision, recall = precision_recall(s, f, n_faces)
        results.append(FaceResult(name, average_precision(precision, recall),
                                  float(recall[-1]) if len(recall) else 0.0,
                                  1000.0 * seconds[name] / max(len(items), 1), precision, recall))
    return results


def yunet_detector(model_path: str | Path, score_threshold: float = 0.3) -> Detector:
    """OpenCV's float YuNet (``cv2.FaceDetectorYN``), run at the image's own size."""
    path = _existing(model_path, "YuNet model")
    with opencv_log_level(cv2.utils.logging.LOG_LEVEL_ERROR):  # its "targets not supported" warning
        net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, 0.3, 5000)

    def detect(image: np.ndarray) -> Detections:
        net.setInputSize((image.shape[1], image.shape[0]))
        _, faces = net.detect(image)
        if faces is None:
            return Detections.empty()
        xywh = faces[:, :4]
        return Detections.from_boxes(_xyxy(xywh), faces[:, -1], "face")

    return detect


def haar_detector(cascade_path: str | Path) -> Detector:
    """A Haar cascade (numpy, :mod:`faces_haar`); more neighbours in its cluster means a higher score."""
    from xnorvision.eval.faces_haar import HaarCascade

    cascade = HaarCascade(_existing(cascade_path, "Haar cascade"))

    def detect(image: np.ndarray) -> Detections:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        boxes, neighbours = cascade.detect(gray)
        return Detections.from_boxes(boxes, neighbours / (neighbours + 10.0), "face")

    return detect


BASELINES: dict[str, Callable[[str], Detector]] = {"yunet": yunet_detector, "haar": haar_detector}


def baseline_detector(spec: str) -> tuple[str, Detector]:
    """Parse ``KIND:PATH`` (e.g. ``haar:cascade.xml``) into a display name and a detector."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in BASELINES or not path:
        raise XnorvisionError(f"baseline must be KIND:PATH, KIND one of {sorted(BASELINES)}; got {spec!r}")
    return f"{kind}:{Path(path).stem}", BASELINES[kind](path)


def write_json(results: Sequence[FaceResult], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"results": [r.to_json() for r in results]}, indent=2) + "\n")


def markdown_table(results: Sequence[FaceResult]) -> str:
    """The results as a Markdown table (what the model card and the README show, regenerated per run)."""
    rows = ["| detector | AP | max recall | ms / image |", "|---|---:|---:|---:|"]
    rows += [f"| {r.name} | {r.ap:.3f} | {r.max_recall:.3f} | {r.ms_per_image:.1f} |" for r in results]
    return "\n".join(rows) + "\n"


_COLOURS = [(200, 80, 0), (0, 140, 255), (60, 160, 60), (180, 0, 180), (0, 0, 200), (120, 120, 0)]


def plot_pr(results: Sequence[FaceResult], path: str | Path, size: int = 480) -> None:
    """Draw the PR curves with OpenCV (no matplotlib at run time) and write a PNG."""
    margin = 50
    canvas = np.full((size + 2 * margin + 20 * len(results), size + 2 * margin, 3), 255, np.uint8)
    ox, oy = margin, margin + size

    def to_px(r: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.stack([ox + r * size, oy - p * size], 1).round().astype(np.int32)

    for t in np.linspace(0, 1, 6):
        cv2.line(canvas, (int(ox + t * size), oy), (int(ox + t * size), oy - size), (230, 230, 230), 1)
        cv2.line(canvas, (ox, int(oy - t * size)), (ox + size, int(oy - t * size)), (230, 230, 230), 1)
        tick = f"{t:.1f}"
        cv2.putText(canvas, tick, (int(ox + t * size) - 10, oy + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1)
        cv2.putText(canvas, tick, (ox - 30, int(oy - t * size) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1)
    cv2.rectangle(canvas, (ox, oy - size), (ox + size, oy), (0, 0, 0), 1)
    cv2.putText(canvas, "recall", (ox + size // 2 - 20, oy + 38), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1)
    cv2.putText(canvas, "precision", (6, margin - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1)
    for i, res in enumerate(results):
        colour = _COLOURS[i % len(_COLOURS)]
        if len(res.recall):
            pts = to_px(np.r_[0.0, res.recall], np.r_[res.precision[0], res.precision])
            cv2.polylines(canvas, [pts], False, colour, 2, cv2.LINE_AA)
        label = f"{res.name}  AP {res.ap:.3f}  {res.ms_per_image:.1f} ms"
        y = oy + 62 + 20 * i  # the legend sits under the axes, one line per detector
        cv2.line(canvas, (ox, y - 4), (ox + 20, y - 4), colour, 2)
        cv2.putText(canvas, label, (ox + 26, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1, cv2.LINE_AA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas):
        raise XnorvisionError(f"cannot write plot: {path}")


def _xyxy(xywh: np.ndarray) -> np.ndarray:
    xywh = np.asarray(xywh, np.float32).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise XnorvisionError(f"{what} not found: {path}")
    return path
