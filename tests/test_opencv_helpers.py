"""The OpenCV log-level guard restores the caller's level, also when the block raises."""

from __future__ import annotations

import cv2
import pytest

from xnorvision._opencv import opencv_log_level


def test_log_level_is_set_inside_and_restored_after_an_error() -> None:
    before = cv2.utils.logging.getLogLevel()
    with pytest.raises(RuntimeError), opencv_log_level(cv2.utils.logging.LOG_LEVEL_SILENT):
        assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_SILENT
        raise RuntimeError
    assert cv2.utils.logging.getLogLevel() == before
