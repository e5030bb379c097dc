"""Outputs: annotated video (``--save``) and one JSON line per frame (``--save-json``).

Both check their path when created, so an unwritable path fails before any frame is processed, and both
leave a complete, valid file after ``close()`` however the run ended.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

import cv2

from xnorvision.errors import SinkError
from xnorvision.pipeline.draw import annotate, overlay_text
from xnorvision.pipeline.result import FrameResult

VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


@runtime_checkable
class Sink(Protocol):
    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


def _check_writable(path: Path, flag: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise SinkError(f"{flag} {path}: is a folder; give a file name")
    if not parent.is_dir():
        raise SinkError(f"{flag} {path}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SinkError(f"{flag} {path}: not writable; choose another path")


class VideoSink:
    """Annotated frames to a video file; the writer opens on the first frame, when the size is known."""

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        _check_writable(self.path, "--save")
        if self.path.suffix.lower() not in VIDEO_CODECS:
            raise SinkError(f"--save {self.path}: unknown video type; use one of {', '.join(VIDEO_CODECS)}")
        self.fps = fps or 30.0
        self._writer: cv2.VideoWriter | None = None

    def write(self, result: FrameResult) -> None:
        img = annotate(result)
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (img.shape[1], img.shape[0]))
            if not self._writer.isOpened():
                raise SinkError(f"--save {self.path}: OpenCV cannot write this video type here; try .avi")
        self._writer.write(img)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


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
            self.stream.write(f"frame {result.index}: {self._frames} processed, {overlay_text(result)}\n")
            self.stream.flush()

    def close(self) -> None:
        pass


class JsonlSink:
    """One JSON object per processed frame, flushed per line so an interrupted run leaves whole lines."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_writable(self.path, "--save-json")
        try:
            self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise SinkError(f"--save-json {self.path}: {exc.strerror}; choose another path") from exc

    def write(self, result: FrameResult) -> None:
        assert self._file is not None, "write after close"
        self._file.write(json.dumps(result.to_json(), allow_nan=False) + "\n")  # bare NaN is not JSON
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
