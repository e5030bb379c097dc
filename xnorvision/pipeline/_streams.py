"""Network streams (``rtsp://``, ``http://`` ...) that survive an IP camera dropping or stalling.

A camera on Wi-Fi reboots, a router drops the connection, an encoder hangs: without help OpenCV's read
returns False (the run ends as if the video had ended) or blocks for 30 s. Here a stall (no frame for
``stall_s`` seconds, enforced by FFmpeg's read timeout) or a drop (the server closed the connection) closes
the capture and reopens the URL after a backoff of 0.5 s doubling up to 8 s, one warning line per try.
After ``max_tries`` reconnects in a row without a frame the stream is lost: :class:`SourceError`, so the
run stops with one line and exit 2 (its saved files stay complete); ``max_tries=None`` retries forever.

A URL whose length is known (a video file served over HTTP) is a file, not a camera: every frame is read
and its end is the end of the run, never a reason to reconnect.
"""

from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np

from xnorvision._opencv import opencv_name
from xnorvision.errors import SourceError
from xnorvision.pipeline._interruptible import call_interruptibly

log = logging.getLogger(__name__)

STALL_S = 5.0  # no frame for this long is a stall; also the timeout of each (re)connect
BACKOFF_S = (0.5, 8.0)  # first wait before reconnecting, doubled per failed try up to the second
MAX_TRIES = 10  # reconnects in a row without a frame before giving up (about 75 s of waiting)


def _connect(url: str, timeout_s: float) -> cv2.VideoCapture | None:
    """An opened capture of ``url`` whose opening and reads give up after ``timeout_s``, or None."""
    ms = int(timeout_s * 1000)
    cap = cv2.VideoCapture(opencv_name(url), cv2.CAP_ANY,
                           [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    if cap.isOpened():
        return cap
    cap.release()
    return None


def _release_capture(cap: cv2.VideoCapture | None) -> None:
    if cap is not None:
        cap.release()


class StreamSource:
    """A URL read through OpenCV's FFmpeg backend, reconnected with backoff when it drops or stalls.

    ``close`` may be called from another thread while ``read`` waits on the network: the reading thread
    then releases the capture itself when its read returns, so a capture is never freed mid-read.
    """

    def __init__(self, url: str, *, stall_s: float = STALL_S, backoff_s: tuple[float, float] = BACKOFF_S,
                 max_tries: int | None = MAX_TRIES) -> None:
        self.name = url
        self._stall_s, self._backoff_s, self._max_tries = stall_s, backoff_s, max_tries
        # on a worker thread, so Ctrl-C ends the wait for a server that does not answer
        cap = call_interruptibly(lambda: _connect(url, stall_s), discard=_release_capture)
        if cap is None:
            raise SourceError(f"cannot open stream {url}; check the address, or install a plugin that "
                              "reads it")
        self._cap: cv2.VideoCapture | None = cap
        self.reconnects = 0  # successful reconnects so far
        self.live = not cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0  # a live stream has no length
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reading = False

    def read(self) -> np.ndarray | None:
        """The next frame; None when closed or when a file's end is reached."""
        tries = 0
        lost_at = None
        while not self._closed.is_set():
            frame, why = self._read_once()
            if frame is not None:
                if tries:
                    self.reconnects += 1
                    log.warning("stream %s: frames again after %d reconnect(s), %.1f s without frames",
                                self.name, tries, time.monotonic() - lost_at)
                return frame
            if not self.live or self._closed.is_set():
                return None
            lost_at = lost_at or time.monotonic()
            if self._max_tries is not None and tries >= self._max_tries:
                raise SourceError(f"stream {self.name} lost: no frame after {tries} reconnects over "
                                  f"{time.monotonic() - lost_at:.0f} s; check the camera and the network")
            wait = min(self._backoff_s[0] * 2 ** tries, self._backoff_s[1])
            tries += 1
            of = f" of {self._max_tries}" if self._max_tries is not None else ""
            log.warning("stream %s: %s; reconnecting in %.1f s (try %d%s)", self.name, why, wait, tries, of)
            self._reconnect(wait)
        return None

    def _read_once(self) -> tuple[np.ndarray | None, str]:
        """One read of the current capture: (frame, "") or (None, why there was none)."""
        with self._lock:
            cap = self._cap
            if cap is None or self._closed.is_set():
                return None, "could not reconnect"
            self._reading = True
        started = time.monotonic()
        try:
            ok, frame = cap.read()
        finally:
            with self._lock:
                self._reading = False
                if self._closed.is_set():  # closed while we read: the release was left to us
                    self._release()
        if ok:
            return frame, ""
        if time.monotonic() - started >= 0.9 * self._stall_s:
            return None, f"stalled (no frame for {self._stall_s:g} s)"
        return None, "connection dropped"

    def _reconnect(self, wait: float) -> None:
        with self._lock:
            self._release()
        if self._closed.wait(wait):
            return
        cap = _connect(self.name, self._stall_s)
        with self._lock:
            if cap is not None and self._closed.is_set():
                cap.release()
            else:
                self._cap = cap

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            if not self._reading:
                self._release()
