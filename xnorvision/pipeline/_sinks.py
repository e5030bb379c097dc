"""Outputs: annotated video (``--save``) and one JSON line per frame (``--save-json``).

Both check their path when created, so an unwritable path fails before any frame is processed, and both
leave a complete, valid file after ``close()`` however the run ended. A write that fails (a full disk)
raises :class:`SinkError` naming the file, which stops the run; the file keeps every whole frame before it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

import cv2
import numpy as np

from xnorvision._opencv import opencv_name
from xnorvision._outputs import check_writable
from xnorvision.errors import SinkError
from xnorvision.pipeline._draw import annotate, overlay_text
from xnorvision.pipeline._result import FrameResult

VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
# Free space a video keeps in hand: OpenCV cannot tell (before 5.x) that a write failed, and an MP4 whose
# disk filled up has no index (unplayable). So the sink stops while the encoder's buffers, the next frame
# and the index (tens of bytes a frame) still fit, and the file it leaves plays.
VIDEO_RESERVE_BYTES = 4 << 20
INDEX_BYTES_PER_FRAME = 64


@runtime_checkable
class Sink(Protocol):
    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


def fit_frame(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` scaled to fit inside ``size`` (width, height), aspect kept, centred on black (letterbox).

    A video has one frame size (its first frame's); OpenCV silently drops a frame of any other size.
    """
    h, w = img.shape[:2]
    if (w, h) == size:
        return img
    s = min(size[0] / w, size[1] / h)
    nw, nh = max(1, min(size[0], round(w * s))), max(1, min(size[1], round(h * s)))
    scaled = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size[1], size[0], 3), np.uint8)
    y, x = (size[1] - nh) // 2, (size[0] - nw) // 2
    out[y:y + nh, x:x + nw] = scaled
    return out


class VideoSink:
    """Annotated frames to a video file; the writer opens on the first frame, when the size is known.

    Later frames of another size are letterboxed to the first one's. The sink stops the run (``SinkError``)
    before the disk fills (see ``VIDEO_RESERVE_BYTES``), when OpenCV reports a failed write, and at
    ``close()`` when the finished file does not play.
    """

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        check_writable("--save", self.path, make_folders=False, error=SinkError)
        opencv_name(self.path)  # a name OpenCV cannot take is refused now, not at the first frame
        if self.path.suffix.lower() not in VIDEO_CODECS:
            raise SinkError(f"--save {self.path}: unknown video type; use one of {', '.join(VIDEO_CODECS)}")
        self.fps = fps or 30.0
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size = (0, 0)

    def write(self, result: FrameResult) -> None:
        img = annotate(result)
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._size = (img.shape[1], img.shape[0])
            self._writer = cv2.VideoWriter(opencv_name(self.path), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                # the codec may be missing, or refuse this size (MPEG-4 takes no 10000x1 frame)
                raise SinkError(f"--save {self.path}: OpenCV cannot write a {self._size[0]}x{self._size[1]} "
                                f"{self.path.suffix} video here; try .avi")
        img = fit_frame(img, self._size)
        self._check_room(img.nbytes)
        if self._writer.write(img) is False:  # OpenCV 5 reports a failed write; 4.x returns None
            raise SinkError(f"--save {self.path}: writing frame {self.frames + 1} failed (disk full?)")
        self.frames += 1

    def _check_room(self, frame_bytes: int) -> None:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        free = shutil.disk_usage(folder).free
        if free < VIDEO_RESERVE_BYTES + 2 * frame_bytes + INDEX_BYTES_PER_FRAME * self.frames:
            raise SinkError(f"--save {self.path}: the disk is nearly full ({free / 1e6:.1f} MB free); "
                            f"stopped after {self.frames} frames, which the video keeps")

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self.frames and not _plays(self.path):
            raise SinkError(f"--save {self.path}: the finished video does not play: a write failed "
                            "(disk full?)")


def _plays(path: Path) -> bool:
    """Whether the video opens and its first frame decodes (an MP4 without its index does not open)."""
    cap = cv2.VideoCapture(opencv_name(path))
    try:
        return cap.isOpened() and cap.grab()
    finally:
        cap.release()


class ProgressSink:
    """A status line every ``every`` seconds (headless runs on a terminal): frames, FPS, stage latencies."""

    def __init__(self, stream: IO[str], every: float = 5.0) -> None:
        self.stream = stream
        self.every = every
        self._frames = 0
        self._next = time.monotonic() + every

    def write(self, result: FrameResult) -> None:
        self._frames += 1
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + self.every
            with contextlib.suppress(OSError):  # the terminal closed (SIGHUP stops the run): no one reads
                self.stream.write(f"frame {result.index}: {self._frames} processed, {overlay_text(result)}\n")
                self.stream.flush()

    def close(self) -> None:
        pass


def _open_stream(path: Path) -> IO[bytes]:
    """``path`` opened for writing, unbuffered. Opened non-blocking, so a FIFO no program reads is an
    error (ENXIO) instead of a wait for ever; writes then block as usual (a slow reader holds the run)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o666)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb", buffering=0)


class JsonlSink:
    """One JSON object per processed frame, each line handed to the OS whole, so an interrupted run leaves
    whole lines; a failed write (a full disk) cuts the file back to its last whole line and stops the run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_writable("--save-json", self.path, make_folders=False, stream=True, error=SinkError)
        try:
            self._file: IO[bytes] | None = _open_stream(self.path)
        except OSError as exc:
            reason = ("no program is reading this FIFO; start the reader first" if exc.errno == errno.ENXIO
                      else f"{exc.strerror}; choose another path")
            raise SinkError(f"--save-json {self.path}: {reason}") from exc
        self.lines = 0
        self._whole = 0  # bytes of the whole lines written

    def write(self, result: FrameResult) -> None:
        assert self._file is not None, "write after close"
        line = (json.dumps(result.to_json(), allow_nan=False) + "\n").encode()
        fd = self._file.fileno()
        try:
            done = 0
            while done < len(line):  # os.write may write part of it
                done += os.write(fd, line[done:])
        except OSError as exc:
            with contextlib.suppress(OSError):  # not a regular file (a pipe, /dev/full): nothing to cut
                os.ftruncate(fd, self._whole)
            raise SinkError(f"--save-json {self.path}: {exc.strerror}; stopped after {self.lines} frames, "
                            "which the file keeps as whole lines") from exc
        self._whole += len(line)
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
