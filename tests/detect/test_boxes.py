import cv2
import numpy as np
import pytest

from xnorvision.detect import box_iou, nms


def _iou_one(a, b):
    """Scalar reference IoU from the definition."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_box_iou_matches_definition_on_random_boxes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (12, 2))
    a = np.concatenate([xy, xy + rng.uniform(1, 30, (12, 2))], 1)
    xy = rng.uniform(0, 50, (7, 2))
    b = np.concatenate([xy, xy + rng.uniform(1, 30, (7, 2))], 1)
    got = box_iou(a, b)
    want = np.array([[_iou_one(p, q) for q in b] for p in a])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_box_iou_degenerate_boxes_are_zero():
    assert box_iou([[0, 0, 0, 0]], [[0, 0, 0, 0]])[0, 0] == 0.0


def test_nms_suppresses_overlaps_and_keeps_best_first():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.5, 0.9, 0.3, 0.8], np.float32)
    keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [1, 2]


def test_nms_threshold_one_keeps_everything_in_score_order():
    boxes = np.array([[0, 0, 10, 10]] * 3, np.float32)
    assert nms(boxes, np.array([0.1, 0.3, 0.2]), iou_threshold=1.0).tolist() == [1, 2, 0]


@pytest.mark.parametrize("max_out", [0, 1, 2])
def test_nms_max_out(max_out):
    boxes = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], np.float32)
    assert len(nms(boxes, np.array([0.3, 0.2, 0.1]), max_out=max_out)) == max_out


def test_nms_empty():
    assert nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)


def test_crop_square_cuts_the_centred_square_and_pads_with_black() -> None:
    from xnorvision.detect import crop_square

    gray = np.random.default_rng(0).integers(0, 255, (100, 120), np.uint8)
    np.testing.assert_array_equal(crop_square(gray, 50, 40, 32, 32), gray[24:56, 34:66])
    assert crop_square(gray, 0, 0, 32, 32)[:16].max() == 0  # outside the image
    half = crop_square(gray, 50, 40, 64, 32)  # shrinking by 2 samples every other pixel
    np.testing.assert_array_equal(half, gray[8:72:2, 18:82:2])


def test_crop_squares_cuts_each_crop_as_crop_square_does() -> None:
    from xnorvision.detect import crop_square, crop_squares

    rng = np.random.default_rng(1)
    colour = rng.integers(0, 255, (90, 130, 3), np.uint8)
    cx, cy, side = rng.uniform(-10, 140, 7), rng.uniform(-10, 100, 7), rng.uniform(3, 200, 7)
    crops = crop_squares(colour, cx, cy, side, 24)
    assert crops.shape == (7, 24, 24, 3) and crops.dtype == np.uint8
    for i in range(7):
        np.testing.assert_array_equal(crops[i], crop_square(colour, cx[i], cy[i], side[i], 24))
    grey = np.ascontiguousarray(colour[..., 0])
    np.testing.assert_array_equal(crops[..., 0], crop_squares(grey, cx, cy, side, 24))  # the same samples
    assert crop_squares(colour, [], [], [], 24).shape == (0, 24, 24, 3)


def test_drop_nested_keeps_one_box_per_face_whichever_scored_better() -> None:
    from xnorvision.detect import drop_nested

    face = [100, 100, 140, 150]
    inner = [110, 112, 132, 140]  # inside the face box: IoU 0.31, so NMS keeps both
    shifted = [105, 115, 140, 165]  # the same face, lower: 0.7 of the smaller box shared
    other = [150, 100, 190, 150]  # the next face: touches nothing
    assert drop_nested(np.array([face, inner, other], np.float32), 0.6).tolist() == [0, 2]
    assert drop_nested(np.array([inner, face, other], np.float32), 0.6).tolist() == [0, 2]  # inner first
    assert drop_nested(np.array([face, shifted], np.float32), 0.6).tolist() == [0]
    assert drop_nested(np.array([face, shifted], np.float32), 0.8).tolist() == [0, 1]
    assert drop_nested(np.zeros((0, 4), np.float32), 0.6).tolist() == []
    empty = [5, 5, 5, 5]  # a zero-area box is nobody's nest
    assert drop_nested(np.array([face, empty, [120, 120, 120, 120]], np.float32), 0.6).tolist() == [0, 1, 2]


def _grey_crops_cases(rng: np.random.Generator):
    """Frames with crops inside, across the edges, wholly outside, tiny and larger than the frame, on
    whole and half pixels (positions that round to 1/32 pixel at the edges of a window)."""
    for h, w in ((48, 64), (37, 91), (240, 320)):
        frame = rng.integers(0, 256, (h, w, 3), np.uint8)
        for _ in range(25):
            n = int(rng.integers(1, 30))
            cx, cy = rng.uniform(-0.3 * w, 1.3 * w, n), rng.uniform(-0.3 * h, 1.3 * h, n)
            side = np.exp(rng.uniform(np.log(1), np.log(3 * max(h, w)), n))
            if rng.random() < 0.3:
                cx, cy, side = np.round(cx * 2) / 2, np.round(cy * 2) / 2, np.round(side)
            yield frame, cx, cy, side
        yield frame, [-40.0], [-40.0], [10.0]  # nothing of the frame read
        yield frame, [w + 30.0, 5.0], [h / 2, 3.0], [8.0, 4.0]  # one crop outside, one in a corner


@pytest.mark.parametrize("out", [24, 32])
def test_grey_crops_are_the_crops_of_the_grey_frame(out: int) -> None:
    from xnorvision.detect import crop_squares

    for frame, cx, cy, side in _grey_crops_cases(np.random.default_rng(out)):
        want = crop_squares(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cx, cy, side, out)
        got = crop_squares(frame, cx, cy, side, out, grey=True)
        assert got.shape == want.shape == (len(side), out, out) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    grey = np.random.default_rng(0).integers(0, 256, (30, 40), np.uint8)  # already grey: as it is
    np.testing.assert_array_equal(crop_squares(grey, [20], [15], [16], 8, grey=True),
                                  crop_squares(grey, [20], [15], [16], 8))
    assert crop_squares(np.zeros((30, 40, 3), np.uint8), [], [], [], 8, grey=True).shape == (0, 8, 8)


def test_grey_crops_convert_only_the_part_they_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from xnorvision.detect import crop_squares

    converted = []
    real = cv2.cvtColor

    def spy(src: np.ndarray, code: int) -> np.ndarray:
        converted.append(src.shape[:2])
        return real(src, code)

    frame = np.random.default_rng(2).integers(0, 256, (480, 640, 3), np.uint8)
    monkeypatch.setattr(cv2, "cvtColor", spy)
    crops = crop_squares(frame, [100, 140], [80, 90], [40, 60], 32, grey=True)
    # samples at x 80..168.125 and y 60..118.125: rows 59..120, columns 79..170 of 480 x 640
    assert converted == [(121 - 59, 171 - 79)]
    monkeypatch.undo()
    np.testing.assert_array_equal(crops, crop_squares(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY),
                                                      [100, 140], [80, 90], [40, 60], 32))


def _crop_squares_reference(image: np.ndarray, cx, cy, side, out: int, grey: bool = False) -> np.ndarray:
    """``crop_squares`` as it was before its steps were trimmed (x and y maps built apart, the grey window's
    bounds by four reductions, the maps by broadcast and reshape): it must cut the same crops, bit for bit."""
    cx, cy, side = (np.asarray(v, np.float64).reshape(-1) for v in (cx, cy, side))
    n = len(side)
    if n == 0:
        return np.zeros((0, out, out, *(() if grey else image.shape[2:])), image.dtype)
    step = side / out
    u = np.arange(out, dtype=np.float64) - out / 2
    xs = (u[None, :] * step[:, None] + cx[:, None]).astype(np.float32)
    ys = (u[None, :] * step[:, None] + cy[:, None]).astype(np.float32)
    if grey and image.ndim == 3:
        h, w = image.shape[:2]
        lo = np.array([xs.min(), ys.min()], np.float64)
        hi = np.array([xs.max(), ys.max()], np.float64)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        else:
            x0, y0 = np.clip(np.floor(lo) - 1, 0, [w, h]).astype(int).tolist()
            x1, y1 = np.clip(np.floor(hi) + 3, 0, [w, h]).astype(int).tolist()
            if x1 <= x0 or y1 <= y0:
                return np.zeros((n, out, out), np.uint8)
            image = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
            xs, ys = xs - np.float32(x0), ys - np.float32(y0)
    map_x = np.broadcast_to(xs[:, None, :], (n, out, out)).reshape(n * out, out)
    map_y = np.broadcast_to(ys[:, :, None], (n, out, out)).reshape(n * out, out)
    crops = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crops.reshape(n, out, out, *image.shape[2:])


def _demo_frames_with_boxes(rng: np.random.Generator):
    """Frames of the demo video, each with random crops near the frame (faces' sizes and larger)."""
    from pathlib import Path

    cap = cv2.VideoCapture(str(Path(__file__).resolve().parents[2] / "assets" / "demo_faces.mp4"))
    for _ in range(12):
        ok, frame = cap.read()
        assert ok
        h, w = frame.shape[:2]
        n = int(rng.integers(1, 40))
        yield frame, rng.uniform(-20, w + 20, n), rng.uniform(-20, h + 20, n), rng.uniform(4, 300, n)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_crop_squares_cuts_what_its_reference_cuts_bit_for_bit() -> None:
    from xnorvision.detect import crop_squares

    rng = np.random.default_rng(12)
    cases = [*_grey_crops_cases(rng), *_demo_frames_with_boxes(rng)]
    frame = cases[0][0]
    cases += [(frame, [np.nan, 20.0], [10.0, 10.0], [8.0, 8.0]), (frame, [20.0], [10.0], [np.inf]),
              (frame, [], [], [])]
    for frame, cx, cy, side in cases:
        for image in (frame, np.ascontiguousarray(frame[..., 1])):
            for grey in (True, False):
                for out in (7, 32):
                    got = crop_squares(image, cx, cy, side, out, grey=grey)
                    want = _crop_squares_reference(image, cx, cy, side, out, grey=grey)
                    assert got.shape == want.shape and got.dtype == want.dtype
                    np.testing.assert_array_equal(got, want)
