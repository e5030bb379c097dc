"""The robustness corruptions: same size out, and each one really degrades the image."""

from __future__ import annotations

import numpy as np
import pytest

from xnorvision.errors import XnorvisionError
from xnorvision.eval._corruptions import CORRUPTIONS, blur, gray, jpeg30, parse_corruptions


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (37, 51, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_same_shape_and_changed_pixels(name: str) -> None:
    image = _image()
    out = CORRUPTIONS[name](image)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() > 5  # noise is what each of them destroys


def test_each_does_what_it_says() -> None:
    image = _image()
    g = gray(image)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])
    flat = np.full((32, 32, 3), 90, np.uint8)
    assert np.array_equal(blur(flat), flat)  # a flat image has no detail to lose
    assert np.abs(jpeg30(flat).astype(int) - 90).max() <= 2


def test_parse() -> None:
    assert parse_corruptions(None) == []
    assert parse_corruptions("gray, blur,gray") == ["gray", "blur"]
    with pytest.raises(XnorvisionError, match="choose from"):
        parse_corruptions("gray,sepia")
