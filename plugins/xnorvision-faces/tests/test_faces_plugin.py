"""The faces plugin: registration, box decoding, crops, and the shipped detector on the demo video."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import xnorvision_faces as plugin
from xnorvision_faces.stages import STRIDES, ClassifierStage, decode_heads, shrink

from xnorvision.api import Detections

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "assets" / "demo_faces.mp4"
YUNET = Path(os.environ.get("XNORVISION_DATA", ROOT.parent / "shared" / "data")) / "teachers" / \
    "face_detection_yunet_2026may.onnx"


def test_registers_pipeline_and_both_models(xnv_registry) -> None:
    registry = xnv_registry(plugin)
    assert "faces" in registry.pipelines
    assert {"faces-proposal", "faces-classifier"} <= set(registry.models)
    for name in ("faces-proposal", "faces-classifier"):
        assert registry.resolve_model(name).stat().st_size < 100_000


def test_decode_heads_inverts_the_training_encoding() -> None:
    out = np.full((4, 5, 5), -8.0, np.float32)
    out[2, 3] = [4.0, 0.25, -0.5, np.log(3.0), np.log(2.0)]  # cell (row 2, col 3), stride 16
    boxes, scores = decode_heads([out], [16], floor=0.5)
    cx, cy = (3 + 0.5 + 0.25) * 16, (2 + 0.5 - 0.5) * 16
    np.testing.assert_allclose(boxes, [[cx - 24, cy - 16, cx + 24, cy + 16]], rtol=1e-5)
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-4.0)))


def _demo_frames(step: int) -> Iterator[np.ndarray]:
    """Every ``step``-th frame of the demo video (96 frames), each one read."""
    cap = cv2.VideoCapture(str(DEMO))
    for i in range(0, 96, step):
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = cap.read()
        assert ok
        yield frame


def _decode_reference(heads: list[np.ndarray], floor: float) -> tuple[np.ndarray, np.ndarray]:
    """The decoding as it was before its steps were trimmed: each head apart, then concatenated."""
    boxes, scores = [], []
    for out, stride in zip(heads, STRIDES, strict=True):
        ys, xs = np.nonzero(out[..., 0] >= math.log(floor / (1 - floor)))
        o = out[ys, xs]
        cx = (xs + 0.5 + o[:, 1]) * stride
        cy = (ys + 0.5 + o[:, 2]) * stride
        w = np.exp(np.clip(o[:, 3], -4, 6)) * stride
        h = np.exp(np.clip(o[:, 4], -4, 6)) * stride
        boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32))
        scores.append((1.0 / (1.0 + np.exp(-o[:, 0]))).astype(np.float32))
    return np.concatenate(boxes), np.concatenate(scores)


def _assert_decodes_as_reference(heads: list[np.ndarray], floor: float) -> int:
    got, want = decode_heads(heads, STRIDES, floor), _decode_reference(heads, floor)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype == np.float32
        np.testing.assert_array_equal(g, w)
    return len(got[1])


def test_decode_heads_gives_the_reference_bit_for_bit_on_random_heads() -> None:
    rng = np.random.default_rng(12)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 16, 2))
        scale = rng.uniform(0.5, 10)  # size logits far past the clip at -4 and 6 too
        heads = [(rng.standard_normal((h * 4 // k, w * 4 // k, 5)) * scale).astype(np.float32)
                 for k in (1, 2, 4)]
        _assert_decodes_as_reference(heads, float(rng.uniform(0.001, 0.999)))
    empty = [np.full((4 // k, 6 // k, 5), -9.0, np.float32) for k in (1, 2, 4)]
    assert _assert_decodes_as_reference(empty, 0.05) == 0


@pytest.mark.parametrize("long_side", [320, 416])
def test_proposals_decode_as_the_reference_on_the_demo_video(xnv_registry, long_side: int) -> None:
    """The heads the shipped proposal net gives on the demo video, then the whole stage against the
    reference decoding followed by the same top-k and NMS."""
    from xnorvision.api import PipelineOptions, drop_nested, nms

    stage = xnv_registry(plugin).pipeline("faces").build(
        PipelineOptions(threads=1, extra={"long_side": long_side, "classifier": False}))[0]
    stage.pre_nms = 100  # the top-k step runs on most frames too
    cells = 0
    for frame in _demo_frames(6):
        got = stage(frame, Detections.empty())
        outs = stage.model.run(stage._canvases[next(reversed(stage._canvases))])
        heads = [outs[name][0] for name in stage.model.output_names]
        cells += _assert_decodes_as_reference(heads, stage.floor)
        boxes, scores = _decode_reference(heads, stage.floor)
        boxes = boxes / (long_side / max(frame.shape[:2]))
        if len(scores) > stage.pre_nms:
            top = np.argpartition(-scores, stage.pre_nms)[:stage.pre_nms]
            boxes, scores = boxes[top], scores[top]
        keep = nms(boxes, scores, stage.nms_iou, stage.max_out)
        keep = keep[drop_nested(boxes[keep], stage.nested_cover)]
        np.testing.assert_array_equal(got.boxes, boxes[keep])
        np.testing.assert_array_equal(got.scores, scores[keep])
    assert cells > 16 * 100


@pytest.mark.parametrize(("shape", "size"), [((480, 640, 3), (416, 312)), ((1080, 1920, 3), (416, 234)),
                                             ((40, 900, 3), (416, 18)), ((300, 480, 3), (416, 260)),
                                             ((200, 300, 3), (416, 277))])
def test_shrink_pyramid_gives_the_size_asked_without_aliasing(shape: tuple[int, ...], size: tuple[int, int],
                                                              ) -> None:
    columns = (np.arange(shape[1]) % 2 * 255).astype(np.uint8)  # 1-px vertical stripes
    stripes = np.ascontiguousarray(np.broadcast_to(columns[None, :, None], shape))
    small = shrink(stripes, size, how="pyramid")
    assert small.shape == (size[1], size[0], 3) and small.dtype == np.uint8
    plain = cv2.resize(stripes, size, interpolation=cv2.INTER_LINEAR)
    if shape[1] >= 2 * size[0] or size[0] < 0.8 * shape[1]:  # halved or blurred: the stripes average out
        assert small[1:-1, 1:-1].std() < 0.5 * plain[1:-1, 1:-1].std()
    else:  # enlarged, or shrunk by less than 0.8x: bilinear alone
        np.testing.assert_array_equal(small, plain)


def test_classifier_stage_passes_no_proposals_through(xnv_registry) -> None:
    stage = ClassifierStage(plugin.load_model(str(plugin.MODELS / "classifier.xnv"), threads=1))
    assert len(stage(np.zeros((10, 10, 3), np.uint8), Detections.empty())) == 0


def _classify_reference(stage: ClassifierStage, frame: np.ndarray, detections: Detections) -> Detections:
    """The classifier stage written plainly (as it was before its steps were trimmed): the stage must
    give the same boxes and scores, bit for bit."""
    from xnorvision.api import crop_squares, drop_nested, nms

    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    b = detections.boxes
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    side = np.maximum(1.3 * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), 2.0)
    out = stage.model(crop_squares(gray, cx, cy, side, stage.crop))
    w = stage.weight
    scores = (detections.scores ** (1 - w) * (1.0 / (1.0 + np.exp(-out[:, 0]))) ** w).astype(np.float32)
    x0, y0 = cx - side / 2, cy - side / 2
    boxes = np.stack([x0, y0, x0, y0], 1) + out[:, 1:5] * side[:, None]
    keep = nms(boxes, scores, stage.nms_iou)
    keep = keep[drop_nested(boxes[keep], stage.nested_cover)]
    return Detections.from_boxes(boxes[keep], scores[keep], "face")


def test_classifier_stage_gives_its_formula_bit_for_bit_on_the_demo_video(xnv_registry) -> None:
    from xnorvision.api import PipelineOptions

    proposal, classifier = xnv_registry(plugin).pipeline("faces").build(PipelineOptions(threads=1))
    checked = 0
    for frame in _demo_frames(8):
        proposals = proposal(frame, Detections.empty())
        got, want = classifier(frame, proposals), _classify_reference(classifier, frame, proposals)
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.scores, want.scores)
        checked += len(proposals)
    assert checked >= 12 * 20  # most frames bring the proposal stage's 24 boxes


def test_pipeline_runs_on_synthetic_frames(xnv_registry, run_pipeline) -> None:
    results = run_pipeline(xnv_registry(plugin), "faces", frames=3, threads=1)
    assert len(results) == 3
    for r in results:
        assert set(r.detections.labels) <= {"face"}
        assert ((r.detections.scores >= 0) & (r.detections.scores <= 1)).all()


def test_finds_every_drawn_face_of_synth_frames_and_nothing_else(xnv_registry, run_pipeline,
                                                                  synth_source) -> None:
    """Data-free: the shipped nets find the synth source's drawn faces (frames 0-19, where the two faces
    are apart) at IoU >= 0.5 and score >= 0.5, and nothing else scores that high."""
    from xnorvision.api import box_iou

    source = synth_source(20)
    results = run_pipeline(xnv_registry(plugin), "faces", frames=20, threads=1)
    assert [r.index for r in results] == list(range(20))
    for r in results:
        dets = r.detections.select(r.detections.scores >= 0.5)
        faces = source.face_boxes(r.index)
        assert len(dets) > 0, f"frame {r.index}: no face found"
        iou = box_iou(faces, dets.boxes)
        assert (iou.max(1) >= 0.5).all(), f"frame {r.index}: a drawn face missed"
        assert (iou.max(0) >= 0.5).all(), f"frame {r.index}: a box off the faces"


@pytest.mark.parametrize("frame", ["black", "grey", "background"])
def test_finds_nothing_on_blank_frames(xnv_registry, frame: str) -> None:
    from xnorvision.api import PipelineOptions

    stages = xnv_registry(plugin).pipeline("faces").build(PipelineOptions(threads=1))
    gradient = np.linspace(40, 110, 240)[:, None, None] * np.float32([1.0, 0.9, 0.8])  # synth's, no shapes
    image = {"black": np.zeros((240, 320, 3), np.uint8), "grey": np.full((480, 640, 3), 128, np.uint8),
             "background": np.broadcast_to(gradient, (240, 320, 3)).astype(np.uint8)}[frame]
    dets = Detections.empty()
    for stage in stages:
        dets = stage(image, dets)
    assert not (dets.scores >= 0.3).any()


@pytest.mark.skipif(not YUNET.is_file(), reason="needs ../shared/data (the YuNet teacher)")
def test_finds_the_faces_yunet_finds_in_the_demo_video(xnv_registry) -> None:
    from xnorvision.api import Pipeline, PipelineOptions, box_iou

    stages = xnv_registry(plugin).pipeline("faces").build(PipelineOptions(threads=1))
    pipeline = Pipeline(stages, threshold=0.3)
    yunet = cv2.FaceDetectorYN.create(str(YUNET), "", (320, 320), 0.7)
    found = total = 0
    for frame in _demo_frames(12):
        yunet.setInputSize((frame.shape[1], frame.shape[0]))
        faces = yunet.detect(frame)[1]
        if faces is None:
            continue
        ref = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], 1)
        ref = ref[faces[:, 2] >= 40]  # faces big enough for the proposal net's input size
        dets = pipeline.detect(frame)
        total += len(ref)
        if len(dets) and len(ref):
            found += int((box_iou(ref, dets.boxes).max(1) >= 0.4).sum())
    assert total > 0 and found / total >= 0.5


def test_pipeline_options_choose_the_classifier_and_its_weight(xnv_registry) -> None:
    from xnorvision.api import PipelineOptions, PluginError

    spec = xnv_registry(plugin).pipeline("faces")
    assert len(spec.build(PipelineOptions(threads=1, extra={"classifier": False}))) == 1
    path = str(plugin.MODELS / "classifier.xnv")
    stages = spec.build(PipelineOptions(threads=1, extra={"classifier": path, "classifier_weight": 0.5}))
    assert isinstance(stages[1], ClassifierStage) and stages[1].weight == 0.5
    assert stages[1].model.path == Path(path)
    with pytest.raises(PluginError, match="classifier_weight"):
        spec.build(PipelineOptions(threads=1, extra={"classifier_weight": 2}))
    assert stages[1].crop == 32  # the classifier's input size
    with pytest.raises(PluginError, match="fixed square input"):  # the any-size proposal net
        spec.build(PipelineOptions(threads=1, extra={"classifier": str(plugin.MODELS / "proposal.xnv")}))


def _overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return max(w, 0) * max(h, 0) / smaller if smaller > 0 else 0.0


def test_no_face_of_the_demo_video_gets_two_boxes(xnv_registry) -> None:
    """A small box inside a larger one on the same face has a low IoU with it and passed NMS (8 pairs in
    the 96 frames before); ``nested_cover`` drops it. Every frame, at the run's default threshold."""
    from xnorvision.api import Pipeline, PipelineOptions

    pipeline = Pipeline(xnv_registry(plugin).pipeline("faces").build(PipelineOptions(threads=1)), 0.5)
    cap = cv2.VideoCapture(str(DEMO))
    pairs, frames = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        boxes = pipeline.detect(frame).boxes
        pairs += [(frames, i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                  if _overlap_of_smaller(boxes[i], boxes[j]) >= 0.3]
        frames += 1
    assert frames == 96 and pairs == []


def test_nested_cover_is_an_option(xnv_registry) -> None:
    from xnorvision.api import PipelineOptions, PluginError

    spec = xnv_registry(plugin).pipeline("faces")
    stages = spec.build(PipelineOptions(threads=1, extra={"nested_cover": 1.0}))
    assert stages[0].nested_cover is None and stages[1].nested_cover is None
    stages = spec.build(PipelineOptions(threads=1, extra={"classifier": False}))
    assert stages[0].nested_cover == plugin.NESTED_COVER  # the last stage has the last word
    with pytest.raises(PluginError, match="nested_cover"):
        spec.build(PipelineOptions(threads=1, extra={"nested_cover": 0}))


def test_shrink_is_area_by_default_and_bit_exact_bilinear_when_enlarging(xnv_registry) -> None:
    """The proposal net sees the frame as INTER_AREA shrinks it (to a grey level) and OpenCV's bit-exact
    bilinear enlarges it: both the same bytes on every CPU (plain INTER_LINEAR is not)."""
    from xnorvision.api import PipelineOptions, PluginError

    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    area = cv2.resize(frame, (416, 312), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(shrink(frame, (416, 312)) - area).max() <= 1
    small = frame[:100, :100]
    np.testing.assert_array_equal(shrink(small, (150, 150)),
                                  cv2.resize(small, (150, 150), interpolation=cv2.INTER_LINEAR_EXACT))
    spec = xnv_registry(plugin).pipeline("faces")
    stage = spec.build(PipelineOptions(threads=1))[0]
    assert stage.shrink == "area"
    stage(frame, Detections.empty())
    canvas = stage._canvases[312, 416]
    assert np.abs(canvas[:312, :416] - area).max() <= 1 and not canvas[312:].any()
    assert spec.build(PipelineOptions(threads=1, extra={"shrink": "pyramid"}))[0].shrink == "pyramid"
    with pytest.raises(PluginError, match="shrink"):
        spec.build(PipelineOptions(threads=1, extra={"shrink": "nearest"}))


def test_proposals_is_an_option_that_caps_what_the_classifier_sees(xnv_registry) -> None:
    """``--set proposals=N``: at most N boxes leave the proposal stage (each a crop for the classifier)."""
    from xnorvision.api import PipelineOptions, PluginError

    spec = xnv_registry(plugin).pipeline("faces")
    frame = np.random.default_rng(5).integers(0, 256, (240, 320, 3), dtype=np.uint8)  # noise: many weak boxes
    counts = {}
    for n in (2, 24):
        stages = spec.build(PipelineOptions(threads=1, extra={"proposals": n}))
        assert stages[0].max_out == n
        counts[n] = len(stages[0](frame, Detections.empty()))
    assert counts[2] == 2 < counts[24] <= 24
    for bad in (0, 1001, True):
        with pytest.raises(PluginError, match="proposals"):
            spec.build(PipelineOptions(threads=1, extra={"proposals": bad}))
