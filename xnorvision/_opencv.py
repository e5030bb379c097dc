"""OpenCV helpers shared across packages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2


@contextmanager
def opencv_log_level(level: int) -> Iterator[None]:
    """Run a block at OpenCV log ``level`` (e.g. ``cv2.utils.logging.LOG_LEVEL_ERROR``), then restore it.

    For calls whose warnings tell a user nothing they can act on (probing absent cameras, YuNet's backend).
    """
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(level)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)
