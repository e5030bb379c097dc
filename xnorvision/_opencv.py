"""OpenCV helpers shared across packages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from xnorvision.errors import XnorvisionError


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


def opencv_name(path: str | os.PathLike[str]) -> str:
    """The file name (or URL) to hand OpenCV, which crashes the process (a segfault) on a Python str it
    cannot encode as UTF-8, as a non-UTF-8 file name arrives. Every name given to ``cv2`` passes here."""
    name = os.fspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise XnorvisionError(f"{name!r}: OpenCV cannot open a file whose name is not valid UTF-8; "
                              "rename it") from None
    return name


class ImageRefused(XnorvisionError):
    """An image OpenCV refuses by raising rather than returning None: one whose header gives more pixels
    than it will decode."""


def _refusal(what: str, exc: cv2.error) -> ImageRefused:
    """The one-line error for OpenCV's refusal of ``what``: its size limits, or what else it said."""
    said = str(exc)
    if "CV_IO_MAX_IMAGE" in said:  # loadsave.cpp's validateInputImageSize, before any pixel is decoded
        return ImageRefused(f"{what}: larger than OpenCV decodes (2**30 pixels, 2**20 a side; the "
                             f"environment variable OPENCV_IO_MAX_IMAGE_PIXELS raises the first)")
    return ImageRefused(f"{what}: OpenCV cannot decode it ({said.strip().splitlines()[-1]})")


def read_image(path: str | os.PathLike[str]) -> np.ndarray | None:
    """``cv2.imread(path, cv2.IMREAD_COLOR)``: BGR uint8, or None where OpenCV cannot decode the file. An
    image over OpenCV's size limits (a few bytes of PNG can claim 40000x30000) raises :class:`ImageRefused`
    naming the file, where OpenCV's own assertion would end a command as an internal error."""
    try:
        return cv2.imread(opencv_name(path), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise _refusal(f"cannot read image {os.fspath(path)}", exc) from None


def decode_image(data: np.ndarray, what: str) -> np.ndarray | None:
    """``cv2.imdecode(data, cv2.IMREAD_COLOR)``, with :func:`read_image`'s handling; ``what`` names the
    bytes in its error."""
    try:
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise _refusal(what, exc) from None


def encode_image(path: str | os.PathLike[str], image: np.ndarray) -> bytes:
    """``image`` in the format the suffix of ``path`` names (.png, .jpg...), to write with ``write_file``
    (``cv2.imwrite`` would leave a half-written file on a full disk, and fails with OpenCV's own error)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    try:
        ok, data = cv2.imencode(suffix, image) if suffix else (False, None)
    except cv2.error:
        ok = False
    if not ok:
        raise XnorvisionError(f"{os.fspath(path)}: not an image type OpenCV writes; use .png or .jpg")
    return data.tobytes()
