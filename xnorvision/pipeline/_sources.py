"""Frame sources: camera, video file, stream URL, image file/folder/glob, ``synth:N``, and plugins' own.

A source is anything with ``read() -> frame | None`` (None at the end), ``close()``, a ``name`` and a
``live`` flag: live sources (cameras, streams) make the capture thread keep only the newest frame.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from xnorvision._opencv import opencv_log_level, opencv_name, read_image
from xnorvision.errors import PLUGIN_FAILURES, FramesSkipped, SourceError, XnorvisionError
from xnorvision.pipeline._guard import GuardedSource
from xnorvision.pipeline._streams import StreamSource
from xnorvision.pipeline._synth import SynthSource
from xnorvision.plugins._registry import Registry
from xnorvision.plugins._specs import SourceSpec

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
MAX_CAMERA_INDEX = 99  # OpenCV reads an index of 100 or more as a backend selector plus a camera number


@runtime_checkable
class Source(Protocol):
    name: str
    live: bool

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


#: Consecutive undecodable frames a file is read past before it counts as ended.
SKIP_TRIES = 25


class CaptureSource:
    """An OpenCV ``VideoCapture``: a camera index (live) or a video file (every frame).

    A file whose frame fails to decode in the middle is read on (up to :data:`SKIP_TRIES` frames), and the
    frames lost there, or missing at its end against the container's frame count, are raised as
    :class:`FramesSkipped` rather than ending the run as if the file were complete.
    """

    def __init__(self, cap: cv2.VideoCapture, name: str, live: bool) -> None:
        self._cap = cap
        self.name = name
        self.live = live
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        self._declared = 0 if live else max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self._seen = 0  # frames read or counted as lost
        self._pending: np.ndarray | None = None  # the frame read just after skipped ones
        self._ended = False

    def read(self) -> np.ndarray | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._ended:
            return None
        ok, frame = self._cap.read()
        if ok:
            self._seen += 1
            return frame
        if self.live:
            return None
        return self._skip_on()

    def _skip_on(self) -> np.ndarray | None:
        """After a failed read of a file: read on past undecodable frames, or end and report a shortfall."""
        for lost in range(1, SKIP_TRIES + 1):
            ok, frame = self._cap.read()
            if ok:
                self._pending, first = frame, self._seen
                self._seen += lost + 1
                raise FramesSkipped(f"{self.name}: {lost} frame(s) from frame {first} could not be decoded; "
                                    "skipped", lost)
        self._ended = True
        missing = self._declared - self._seen
        if missing > 0:
            raise FramesSkipped(f"{self.name}: ended after {self._seen} of its {self._declared} frames; "
                                f"{missing} could not be decoded", missing)
        return None

    def close(self) -> None:
        self._cap.release()


class FittedSource:
    """Another source's frames scaled down (or up) to fit inside ``size``, keeping their aspect ratio.

    What ``--size`` means for files, streams and images: a camera is asked for the mode instead.
    """

    def __init__(self, inner: Source, size: tuple[int, int]) -> None:
        self._inner, self._size = inner, size
        self.name, self.live = inner.name, inner.live
        self.fps = getattr(inner, "fps", None)

    def read(self) -> np.ndarray | None:
        frame = self._inner.read()
        if frame is None:
            return None
        h, w = frame.shape[:2]
        s = min(self._size[0] / w, self._size[1] / h)
        if s == 1:
            return frame
        out = (max(1, round(w * s)), max(1, round(h * s)))
        return cv2.resize(frame, out, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)

    def close(self) -> None:
        self._inner.close()


def check_camera_index(index: int) -> None:
    """Refuse what cannot name a camera: a negative index crashes OpenCV (a segfault, not an error)."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_CAMERA_INDEX:
        raise SourceError(f"--camera {index!r}: a camera index is 0..{MAX_CAMERA_INDEX}; "
                          "list the working ones with `xnorvision cameras`")


def try_camera(index: int) -> cv2.VideoCapture | None:
    """An opened camera, or None; OpenCV's own warnings about absent devices are silenced.

    The one gate before ``cv2.VideoCapture(int)``: a bad index is a :class:`SourceError`.
    """
    check_camera_index(index)
    with opencv_log_level(cv2.utils.logging.LOG_LEVEL_SILENT):
        cap = cv2.VideoCapture(index)
    if cap.isOpened():
        return cap
    cap.release()
    return None


def open_camera(index: int, size: tuple[int, int] | None = None) -> CaptureSource:
    cap = try_camera(index)
    if cap is None:
        raise SourceError(f"camera {index} does not open; list the working ones with `xnorvision cameras`")
    if size is not None:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
    return CaptureSource(cap, f"camera {index}", live=True)


def check_readable(path: Path) -> None:
    """Raise ``PermissionError`` if ``path`` cannot be opened for reading.

    OpenCV reports a file it may not open exactly like a corrupt one; opening it ourselves first (without
    blocking, should it be a FIFO) tells the two apart. Other errors are left to the decoder's message.
    """
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except PermissionError:
        raise
    except OSError:
        pass


def open_video(path: Path) -> CaptureSource:
    check_readable(path)
    cap = cv2.VideoCapture(opencv_name(path))
    ok = cap.isOpened() and cap.grab()
    if not ok:
        cap.release()
        raise SourceError(f"cannot decode video {path}: not a video file or corrupt")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return CaptureSource(cap, str(path), live=False)


def open_stream(url: str) -> StreamSource:
    """A network stream OpenCV's FFmpeg backend reads (rtsp://, http://...): live, newest frame only,
    reconnected when it drops or stalls (see :mod:`xnorvision.pipeline._streams`)."""
    return StreamSource(url)


class ImageFilesSource:
    """A list of image files, read in order; an unreadable one stops the run with its name.

    The first image is decoded when the source opens, as a video's first frame is: a bad single image is
    then the run's one error line, before anything else is printed or opened.
    """

    live = False
    fps = None

    def __init__(self, paths: list[Path], name: str) -> None:
        self.paths = paths
        self.name = name
        self._next = 0
        self._first: np.ndarray | None = self._decode(paths[0]) if paths else None

    def read(self) -> np.ndarray | None:
        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        self._next += 1
        if self._next == 1 and self._first is not None:
            frame, self._first = self._first, None
            return frame
        return self._decode(path)

    @staticmethod
    def _decode(path: Path) -> np.ndarray:
        with opencv_log_level(cv2.utils.logging.LOG_LEVEL_ERROR):  # our message below says it better
            frame = read_image(path)
        if frame is None:
            try:
                check_readable(path)
            except PermissionError:
                raise SourceError(f"cannot read image {path}: permission denied") from None
            raise SourceError(f"cannot read image {path}: not an image or corrupt; remove it or fix it")
        return frame

    def close(self) -> None:
        self._next = len(self.paths)
        self._first = None


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``; anything else is the user's error."""
    parts = text.lower().split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        w = h = 0
    if len(parts) != 2 or not (8 <= w <= 8192 and 8 <= h <= 8192):
        raise SourceError(f"--size {text!r} is not WIDTHxHEIGHT with each side 8..8192, e.g. --size 640x480")
    return w, h


def _is_image_file(path: Path) -> bool:
    """An image name on a regular file: a FIFO or device named ``b.png`` would block ``imread`` forever."""
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _image_list(spec: str) -> list[Path] | None:
    path = Path(spec).expanduser()
    if path.is_dir():
        return sorted(p for p in path.iterdir() if _is_image_file(p))
    if any(c in spec for c in "*?["):
        return sorted(p for p in map(Path, glob.glob(str(path))) if _is_image_file(p))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [path] if path.is_file() else None
    return None


def source_files(spec: str | None, registry: Registry | None = None) -> list[Path]:
    """The local files ``--source spec`` reads (none for cameras, streams, ``synth:N`` and plugin sources).

    What the output-path guard protects: an output must never be one of these.
    """
    if spec is None or spec.startswith("synth:") or "://" in spec:
        return []
    if registry is not None and registry.source_for(spec) is not None:
        return []
    with _denied_as_source_error(spec):
        images = _image_list(spec)
        if images is not None:
            return images
        path = Path(spec).expanduser()
        return [path] if path.exists() else []


@contextmanager
def _denied_as_source_error(spec: str) -> Iterator[None]:
    """A folder we may not list or a file we may not read: "permission denied", not "corrupt" or a bug."""
    try:
        yield
    except PermissionError as exc:
        raise SourceError(f"--source {spec}: permission denied ({exc.filename or spec})") from None


def _open_plugin_source(plugin: SourceSpec, owner: str, spec: str) -> Source:
    label = f"source {plugin.name!r} of plugin {owner!r}"
    try:
        source = plugin.open(spec)
    except XnorvisionError:
        raise
    except PLUGIN_FAILURES as exc:  # plugin code: its failure, reported in one line
        raise SourceError(f"{label} cannot open {spec}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(source, Source):
        raise SourceError(f"{label} returned {type(source).__name__}, which lacks name/live/read/close")
    return GuardedSource(source, label)


def open_source(
    spec: str | None = None,
    *,
    camera: int | None = None,
    size: tuple[int, int] | None = None,
    registry: Registry | None = None,
) -> Source:
    """Open what ``--camera``/``--source`` named; plugin sources (by prefix) take precedence over files.

    ``size`` is the capture mode of a camera, the frame size of ``synth:N``, and for anything else the box
    its frames are scaled to fit inside.
    """
    if camera is not None and spec is not None:  # which one was meant is the user's to say, not ours
        raise SourceError(f"--camera {camera} and --source {spec!r} both given: pass one of them")
    if camera is not None:
        return open_camera(camera, size)
    if spec is None:
        raise SourceError("no input: pass --camera N or --source PATH|folder|glob|synth:N")
    if not spec.strip():  # "" is the current folder to pathlib: never what was meant
        raise SourceError(f"--source {spec!r} is empty: give a video, image, folder, glob or synth:N")
    if spec.startswith("synth:"):
        count = spec.removeprefix("synth:")
        if not count.isdigit() or int(count) < 1:
            raise SourceError(f"--source {spec!r}: write synth:N, N a positive frame count, e.g. synth:300")
        return SynthSource(int(count), size or (320, 240))
    source = _open_file_or_plugin(spec, registry)
    return source if size is None else FittedSource(source, size)


def _open_file_or_plugin(spec: str, registry: Registry | None) -> Source:
    if registry is not None and (plugin := registry.source_for(spec)) is not None:
        return _open_plugin_source(plugin, registry.owner_of("sources", plugin), spec)
    if "://" in spec:
        return open_stream(spec)
    with _denied_as_source_error(spec):
        return _open_path(spec)


def _open_path(spec: str) -> Source:
    images = _image_list(spec)
    if images is not None:
        if not images:
            raise SourceError(f"no images found in {spec} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        return ImageFilesSource(images, spec)
    path = Path(spec).expanduser()
    if path.exists() and not path.is_file():
        raise SourceError(f"--source {spec}: not a regular file (a device or a pipe)")
    if not path.is_file():
        raise SourceError(f"--source {spec}: no such file, folder or glob")
    return open_video(path)
