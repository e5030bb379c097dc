"""area_shrink: OpenCV's INTER_AREA to within one grey level, for any shrink, written into views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from xnorvision import kernels as K

# (H, W, h, w): odd sizes, exactly 1/2 and 1/3, near 1, 1 itself, 1-pixel outputs, many taps, one axis only
SIZES = [(37, 53, 19, 27), (101, 77, 50, 38), (64, 48, 32, 24), (90, 63, 30, 21), (100, 100, 99, 97),
         (31, 29, 31, 29), (31, 29, 1, 1), (17, 40, 1, 13), (40, 17, 9, 1), (1, 50, 1, 7), (50, 1, 7, 1),
         (480, 640, 312, 416), (465, 640, 233, 320), (1080, 1920, 234, 416), (999, 7, 4, 3), (12, 12, 12, 5)]


def _reference(image: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).reshape((h, w) + image.shape[2:])


def _overlaps(size: int, out: int) -> np.ndarray:
    """[out, size]: the share of output cell d's span [d * s, (d + 1) * s), s = size / out, on pixel i."""
    edges = np.arange(out + 1) * (size / out)
    lo, hi = np.maximum(edges[:-1, None], np.arange(size)), np.minimum(edges[1:, None], np.arange(size) + 1)
    return np.clip(hi - lo, 0, None) / (size / out)


def _exact_mean(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """The area mean in float64, unrounded."""
    rows = np.tensordot(_overlaps(image.shape[0], h), image.astype(np.float64), 1)  # [h, W, ...]
    return np.moveaxis(np.tensordot(_overlaps(image.shape[1], w), rows, (1, 1)), 0, 1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("H", "W", "h", "w"), SIZES)
def test_matches_opencv_inter_area_within_one_grey_level(H: int, W: int, h: int, w: int,
                                                         channels: int) -> None:
    rng = np.random.default_rng(H * W + h * w + channels)
    image = rng.integers(0, 256, (H, W, channels), dtype=np.uint8)
    got = K.area_shrink(image, (w, h))
    want = _reference(image, w, h)
    assert got.shape == (h, w, channels) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - want).max() <= 1
    # it is the exact mean, rounded: OpenCV and it differ only where that mean sits near a half
    assert np.abs(got - _exact_mean(image, w, h)).max() <= 0.5 + 0.05


def test_random_sizes_match_opencv() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        H, W = (int(v) for v in rng.integers(1, 90, 2))
        h, w = int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        diff = np.abs(K.area_shrink(image, (w, h)).astype(int) - _reference(image, w, h))
        assert diff.max() <= 1, (H, W, h, w)


def test_scale_one_copies_and_flat_images_stay_flat() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (23, 41, 3), dtype=np.uint8)
    np.testing.assert_array_equal(K.area_shrink(image, (41, 23)), image)
    for value in (0, 1, 128, 254, 255):  # weights sum to one: no drift, no overflow at white
        flat = np.full((1080, 1920, 3), value, np.uint8)
        for size in ((416, 234), (7, 3), (1, 1), (1919, 1079)):
            assert (K.area_shrink(flat, size) == value).all(), (value, size)


def test_two_dimensional_grey_images() -> None:
    gray = np.random.default_rng(2).integers(0, 256, (70, 90), dtype=np.uint8)
    got = K.area_shrink(gray, (31, 24))
    assert got.shape == (24, 31)
    assert np.abs(got.astype(int) - _reference(gray, 31, 24)).max() <= 1


def test_writes_into_a_canvas_corner_and_reads_a_crop() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    crop = frame[10:190, 20:260]  # rows apart, each row's pixels contiguous
    canvas = np.full((96, 128, 3), 7, np.uint8)
    result = K.area_shrink(crop, (100, 75), out=canvas[:75, :100])
    assert np.shares_memory(result, canvas)
    assert np.abs(canvas[:75, :100].astype(int) - _reference(np.ascontiguousarray(crop), 100, 75)).max() <= 1
    assert (canvas[75:] == 7).all() and (canvas[:, 100:] == 7).all()  # the padding is never written


@pytest.mark.parametrize(("image", "size", "out", "message"), [
    (np.zeros((8, 8, 3), np.float32), (4, 4), None, "uint8"),
    (np.zeros((8, 8, 3, 1), np.uint8), (4, 4), None, "uint8"),
    (np.zeros((0, 8, 3), np.uint8), (4, 4), None, "non-empty"),
    ([[1, 2]], (1, 1), None, "numpy array"),
    (np.zeros((8, 8, 3), np.uint8), (9, 4), None, "only shrinks"),
    (np.zeros((8, 8, 3), np.uint8), (4, 0), None, "height"),
    (np.zeros((8, 8, 3), np.uint8), (4,), None, "width, height"),
    (np.zeros((8, 8, 3), np.uint8), (4.0, 4), None, "width"),
    (np.zeros((8, 8, 3), np.uint8), (4, 4), np.zeros((4, 4, 1), np.uint8), "shape"),
    (np.zeros((8, 8, 3), np.uint8), (4, 4), np.zeros((4, 4, 3), np.int16), "uint8"),
    (np.zeros((8, 8, 3), np.uint8)[:, ::-1], (4, 4), None, "contiguous"),
    (np.zeros((8, 8, 3), np.uint8)[:, :, ::-1], (4, 4), None, "contiguous"),
    (np.zeros((8, 8, 3), np.uint8), (4, 4), np.zeros((4, 8, 3), np.uint8)[:, ::2], "contiguous"),
])
def test_bad_arguments_raise_value_error(image: object, size: object, out: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        K.area_shrink(image, size, out)  # type: ignore[arg-type]


def test_refuses_read_only_or_overlapping_out() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    frozen = np.zeros((4, 4, 3), np.uint8)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        K.area_shrink(image, (4, 4), frozen)
    with pytest.raises(ValueError, match="overlap"):
        K.area_shrink(image, (4, 4), image[:4, :4])
