"""The OpenCV log-level guard restores the caller's level, also when the block raises; image reading turns
OpenCV's size refusal into a named error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from xnorvision._opencv import ImageRefused, decode_image, opencv_log_level, read_image


def test_log_level_is_set_inside_and_restored_after_an_error() -> None:
    before = cv2.utils.logging.getLogLevel()
    with pytest.raises(RuntimeError), opencv_log_level(cv2.utils.logging.LOG_LEVEL_SILENT):
        assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_SILENT
        raise RuntimeError
    assert cv2.utils.logging.getLogLevel() == before


def test_an_image_over_opencvs_limit_is_a_named_error_not_an_opencv_assertion(tmp_path: Path,
                                                                              oversized_png: bytes) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(oversized_png)
    with pytest.raises(cv2.error):  # what OpenCV does by itself
        cv2.imread(str(path), cv2.IMREAD_COLOR)
    with pytest.raises(ImageRefused, match=r"cannot read image .*bomb\.png: larger than OpenCV decodes"):
        read_image(path)
    with pytest.raises(ImageRefused, match=r"^chunk 3: larger than OpenCV decodes"):
        decode_image(np.frombuffer(oversized_png, np.uint8), "chunk 3")


def test_read_image_still_gives_none_for_what_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"not a png")
    assert read_image(tmp_path / "x.png") is None
    cv2.imwrite(str(tmp_path / "ok.png"), np.full((3, 5, 3), 7, np.uint8))
    assert read_image(tmp_path / "ok.png").shape == (3, 5, 3)
